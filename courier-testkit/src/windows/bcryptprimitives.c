/* Test-only stand-in for Windows' bcryptprimitives.dll, for running our Windows builds
 * under Wine 8, which lacks it: Rust's std takes its random numbers from ProcessPrng
 * there, and a program that imports a missing function does not start at all. Real
 * Windows 10 and later have the DLL; this file is never shipped. It forwards to
 * advapi32's RtlGenRandom (SystemFunction036), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
