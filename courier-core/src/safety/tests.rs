use super::*;

fn id(byte: u8) -> ClientId {
    ClientId([byte; 32])
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Proves the algorithm is Signal's: libsignal's own test vector (its
/// `fingerprint_test_v1`: two serialized identity keys and two phone numbers as stable
/// ids) gives the same 60 digits here, in both orders.
#[test]
fn safety_matches_libsignal_vector() {
    let alice = hex_bytes("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868");
    let bob = hex_bytes("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b");
    let expected = "300354477692869396892869876765458257569162576843440918079131";
    let ab = SafetyNumber::from_parts(&alice, b"+14152222222", &bob, b"+14153333333");
    let ba = SafetyNumber::from_parts(&bob, b"+14153333333", &alice, b"+14152222222");
    assert_eq!(ab.digits(), expected);
    assert_eq!(ba.digits(), expected);
}

/// Proves both sides compute the same number: the order of the two devices does not
/// change it.
#[test]
fn safety_same_on_both_sides() {
    let (a, b) = (id(1), id(2));
    assert_eq!(SafetyNumber::between(a, b), SafetyNumber::between(b, a));
}

/// Proves a different device gives a different number (an impostor shows).
#[test]
fn safety_differs_for_different_pairs() {
    let ab = SafetyNumber::between(id(1), id(2));
    let ac = SafetyNumber::between(id(1), id(3));
    let bc = SafetyNumber::between(id(2), id(3));
    assert_ne!(ab, ac);
    assert_ne!(ab, bc);
    assert_ne!(ac, bc);
}

/// Proves the shapes: 60 digits, 12 groups of 5, 3 lines of 4 groups, the versioned QR
/// payload.
#[test]
fn safety_shapes() {
    let n = SafetyNumber::between(id(7), id(9));
    assert_eq!(n.digits().len(), DIGITS);
    assert!(n.digits().bytes().all(|b| b.is_ascii_digit()));
    let groups = n.groups();
    assert_eq!(groups.len(), 12);
    assert!(groups.iter().all(|g| g.len() == 5));
    assert_eq!(groups.concat(), n.digits());
    let shown = n.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], groups[..4].join(" "));
    assert_eq!(lines[2], groups[8..].join(" "));
    assert_eq!(n.qr_payload(), format!("courier-safety:1:{}", n.digits()));
}

/// Proves Courier's numbers do not drift between versions: the vectors checked into
/// `courier-core/tests/data/safety-vectors.txt` (id, id, digits per line) still hold.
#[test]
fn safety_vectors_in_repository() {
    let text = include_str!("../../tests/data/safety-vectors.txt");
    let mut checked = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 3, "bad vector line {line:?}");
        let (a, b, digits) = (words[0], words[1], words[2]);
        let a = ClientId::from_hex(a).unwrap();
        let b = ClientId::from_hex(b).unwrap();
        assert_eq!(SafetyNumber::between(a, b).digits(), digits, "{line}");
        assert_eq!(SafetyNumber::between(b, a).digits(), digits, "{line}");
        checked += 1;
    }
    assert!(checked >= 3);
}
