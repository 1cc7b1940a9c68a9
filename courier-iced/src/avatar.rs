//! Avatars: a built-in set drawn here, and user images scaled down to fit the hub's limit.

use std::io::Cursor;

use courier_core::limits::MAX_AVATAR;

/// Pixels on each side of an avatar the app sends.
pub const SIZE: u32 = 96;
/// How many built-in avatars there are.
pub const BUILTIN: usize = 8;

const COLORS: [[u8; 3]; BUILTIN] = [
    [0x3b, 0x82, 0xf6],
    [0x10, 0xb9, 0x81],
    [0xf5, 0x9e, 0x0b],
    [0xef, 0x44, 0x44],
    [0x8b, 0x5c, 0xf6],
    [0x06, 0xb6, 0xd4],
    [0xec, 0x48, 0x99],
    [0x64, 0x74, 0x8b],
];

/// Built-in avatar `n` (0..[`BUILTIN`]) as PNG bytes: a symmetric 5×5 pattern on a
/// coloured tile, different for each `n`.
pub fn builtin(n: usize) -> Vec<u8> {
    let color = COLORS[n % BUILTIN];
    // A fixed pattern per avatar: 15 bits mirrored into a 5×5 grid.
    let bits = (0x5a3c_u32
        .wrapping_mul(n as u32 + 7)
        .rotate_left(n as u32 * 3))
        ^ 0x2d9b;
    let cell = SIZE / 6;
    let margin = (SIZE - cell * 5) / 2;
    let img = image::RgbaImage::from_fn(SIZE, SIZE, |x, y| {
        let (cx, cy) = (x.checked_sub(margin), y.checked_sub(margin));
        let on = match (cx, cy) {
            (Some(cx), Some(cy)) if cx < cell * 5 && cy < cell * 5 => {
                let (col, row) = (cx / cell, cy / cell);
                let col = if col > 2 { 4 - col } else { col };
                bits >> (row * 3 + col) & 1 == 1
            }
            _ => false,
        };
        if on {
            image::Rgba([255, 255, 255, 255])
        } else {
            image::Rgba([color[0], color[1], color[2], 255])
        }
    });
    encode(&image::DynamicImage::ImageRgba8(img)).unwrap_or_default()
}

/// Largest avatar side the app draws, in pixels.
pub const MAX_SIDE: u32 = 1024;

/// Decodes avatar bytes from the network: PNG or JPEG, at most
/// [`courier_core::limits::MAX_AVATAR`] bytes and [`MAX_SIDE`] pixels a side, decoded
/// with bounded memory. Anything else is `None`.
pub fn decode(bytes: &[u8]) -> Option<image::RgbaImage> {
    if bytes.is_empty() || bytes.len() > MAX_AVATAR {
        return None;
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(16 * 1024 * 1024);
    reader.limits(limits);
    Some(reader.decode().ok()?.into_rgba8())
}

/// Why an image cannot be an avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable(pub String);

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns an image file's bytes (PNG or JPEG) into a square [`SIZE`] PNG avatar that fits
/// the hub's limit.
pub fn from_image(bytes: &[u8]) -> Result<Vec<u8>, Unusable> {
    // Refuse decompression bombs before decoding.
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Unusable(format!("cannot read the image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(256 * 1024 * 1024);
    let mut reader = reader;
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| Unusable(format!("not a PNG or JPEG image the app can read ({e})")))?;
    let side = img.width().min(img.height());
    let square = img.crop_imm(
        (img.width() - side) / 2,
        (img.height() - side) / 2,
        side,
        side,
    );
    let small = square.resize_exact(SIZE, SIZE, image::imageops::FilterType::Triangle);
    let png = encode(&small).map_err(|e| Unusable(format!("cannot encode the avatar: {e}")))?;
    if png.len() > MAX_AVATAR {
        return Err(Unusable("the avatar is too large".into()));
    }
    Ok(png)
}

fn encode(img: &image::DynamicImage) -> image::ImageResult<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_distinct_small_pngs() {
        let all: Vec<Vec<u8>> = (0..BUILTIN).map(builtin).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(a.starts_with(b"\x89PNG"), "avatar {i} is a PNG");
            assert!(a.len() <= MAX_AVATAR);
            assert!(from_image(a).is_ok(), "a built-in avatar is a valid image");
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn images_are_scaled_and_garbage_refused() -> Result<(), Unusable> {
        let big = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            640,
            400,
            image::Rgb([1, 2, 3]),
        ));
        let bytes = encode(&big).map_err(|e| Unusable(e.to_string()))?;
        let png = from_image(&bytes)?;
        let back = image::load_from_memory(&png).map_err(|e| Unusable(e.to_string()))?;
        assert_eq!((back.width(), back.height()), (SIZE, SIZE));
        assert!(from_image(b"definitely not an image").is_err());
        assert!(from_image(b"\x89PNG\r\n\x1a\n truncated").is_err());
        Ok(())
    }
}
