//! Keys as MONITOR quotes them, made exact: the unquoting of `sdscatrepr`, the cluster slot, and
//! a dictionary that gives every distinct key an id in order of first appearance.

use hashbrown::HashTable;

/// The bytes a MONITOR argument stands for: `\"` `\\` `\n` `\r` `\t` `\a` `\b` and `\xhh`
/// (lower-case hex, as Redis prints it) resolved, anything else kept as printed.
pub fn unquote(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            let simple = match raw[i + 1] {
                b'\\' => Some(b'\\'),
                b'"' => Some(b'"'),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'a' => Some(7),
                b'b' => Some(8),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            if raw[i + 1] == b'x' && i + 3 < raw.len() {
                if let (Some(h), Some(l)) = (hex(raw[i + 2]), hex(raw[i + 3])) {
                    out.push(h << 4 | l);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            j += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16: [u16; 256] = crc16_table();

/// CRC16-XMODEM, as Redis Cluster hashes keys.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16[usize::from(((crc >> 8) as u8) ^ b)]
    })
}

/// The cluster slot of a key: the hash tag is what lies between the first `{` and the first
/// `}` after it, when that is not empty.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = memchr::memchr(b'{', key).and_then(|start| {
        let end = memchr::memchr(b'}', &key[start + 1..])? + start + 1;
        (end > start + 1).then(|| &key[start + 1..end])
    });
    crc16(tagged.unwrap_or(key)) % 16384
}

/// What a new key is, worked out once from its quoted form.
pub struct Exact<'a> {
    /// The exact bytes (the quoted form itself when it holds no escape).
    pub bytes: std::borrow::Cow<'a, [u8]>,
    /// The bytes are valid UTF-8 (then they are the key's text; otherwise its text is the
    /// escaped form, as printed).
    pub utf8: bool,
    pub slot: u16,
}

impl<'a> Exact<'a> {
    pub fn of(quoted: &'a [u8]) -> Self {
        let mut exact = Self::unslotted(quoted);
        exact.slot = slot(&exact.bytes);
        exact
    }

    /// The bytes and text alone (`slot` left 0).
    pub fn unslotted(quoted: &'a [u8]) -> Self {
        let bytes = if memchr::memchr(b'\\', quoted).is_some() {
            std::borrow::Cow::Owned(unquote(quoted))
        } else {
            std::borrow::Cow::Borrowed(quoted)
        };
        Exact {
            utf8: std::str::from_utf8(&bytes).is_ok(),
            slot: 0,
            bytes,
        }
    }

    /// The key's text: its bytes when they are UTF-8, else the quoted form.
    pub fn text(&self, quoted: &'a [u8]) -> &str {
        let text = if self.utf8 { &self.bytes[..] } else { quoted };
        // Quoted forms are text (`scanner` hands strings); bytes were checked just above.
        std::str::from_utf8(text).unwrap_or_default()
    }
}

/// Keys as quoted -> id, in order of first appearance, for as long as it lives. The keys are
/// kept once, back to back in one buffer; the table holds their ids and 32 bits of their hash,
/// so that growing it and most failed comparisons never touch the keys.
#[derive(Default)]
pub struct KeyDictionary {
    data: Vec<u8>,
    ends: Vec<u64>,
    table: HashTable<(u32, u32)>,
    hasher: foldhash::fast::FixedState,
}

/// A table hash from the 32 bits kept: an odd multiplier spreads them over the high bits
/// (hashbrown's tag) and keeps the low ones (the bucket) mixed.
fn widen(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl KeyDictionary {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of all keys as quoted.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The key of `id`, as quoted.
    pub fn get(&self, id: u32) -> &[u8] {
        let id = id as usize;
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.data[start..self.ends[id] as usize]
    }

    /// The id of `key`, and whether it is new (then registered under the next id).
    pub fn id(&mut self, key: &[u8]) -> (u32, bool) {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(key) as u32;
        let (data, ends) = (&self.data, &self.ends);
        let found = self.table.find(widen(h), |&(id, other)| {
            other == h && {
                let id = id as usize;
                let start = if id == 0 { 0 } else { ends[id - 1] as usize };
                &data[start..ends[id] as usize] == key
            }
        });
        if let Some(&(id, _)) = found {
            return (id, false);
        }
        let id = self.ends.len() as u32;
        self.data.extend_from_slice(key);
        self.ends.push(self.data.len() as u64);
        self.table
            .insert_unique(widen(h), (id, h), |&(_, other)| widen(other));
        (id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_resolves_every_escape_redis_prints() {
        assert_eq!(
            unquote(br#"a\"b\\c\n\r\t\a\b\x00\xff"#),
            b"a\"b\\c\n\r\t\x07\x08\x00\xff"
        );
        // Not escapes Redis prints: kept as they are.
        assert_eq!(unquote(br"\xZZ \xAB \q \"), br"\xZZ \xAB \q \");
        assert_eq!(unquote(br"\\x41"), br"\x41");
    }

    #[test]
    fn slots_match_cluster_keyslot() {
        // Values from CLUSTER KEYSLOT.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn ids_in_order_of_first_appearance() {
        let mut d = KeyDictionary::default();
        let ids: Vec<(u32, bool)> = ["b", "a", "b", "c", "a"]
            .iter()
            .map(|k| d.id(k.as_bytes()))
            .collect();
        let (f, t) = (false, true);
        assert_eq!(ids, [(0, t), (1, t), (0, f), (2, t), (1, f)]);
        assert_eq!(d.get(2), b"c");
        // Enough keys to grow the table many times: every one keeps its id.
        let keys: Vec<String> = (0..100_000).map(|i| format!("k:{i}")).collect();
        for k in &keys {
            d.id(k.as_bytes());
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(d.id(k.as_bytes()), (i as u32 + 3, false));
        }
        assert_eq!(d.len(), 100_003);
    }

    #[test]
    fn exact_bytes_text_and_slot_of_a_quoted_key() {
        let quoted = br"bin:\xff";
        let e = Exact::of(quoted);
        assert_eq!((&e.bytes[..], e.utf8), (&b"bin:\xff"[..], false));
        assert_eq!(e.text(quoted), r"bin:\xff");
        let quoted = br"caf\xc3\xa9{t}";
        let e = Exact::of(quoted);
        assert_eq!((e.text(quoted), e.slot), ("café{t}", slot(b"t")));
        let plain = Exact::of(b"user:1");
        assert!(matches!(plain.bytes, std::borrow::Cow::Borrowed(_)));
    }
}
