//! The allowed picture types, judged by extension and by magic bytes together.

/// Bytes needed to tell every allowed type apart (WebP: `RIFF` + size + `WEBP`).
pub const SNIFF_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageType {
    /// The type a file name claims; SVG and anything else is `None`.
    pub fn from_extension(filename: &str) -> Option<Self> {
        let (_, extension) = filename.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "png" => Some(ImageType::Png),
            "jpg" | "jpeg" => Some(ImageType::Jpeg),
            "gif" => Some(ImageType::Gif),
            "webp" => Some(ImageType::Webp),
            _ => None,
        }
    }

    /// Its media type, as served.
    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Gif => "image/gif",
            ImageType::Webp => "image/webp",
        }
    }

    /// The type the first bytes of a file show.
    pub fn from_magic(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if head.starts_with(b"\xff\xd8\xff") {
            Some(ImageType::Jpeg)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(ImageType::Gif)
        } else if head.len() >= SNIFF_LEN && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImageType::{self, *};

    #[test]
    fn extensions() {
        assert_eq!(ImageType::from_extension("a.PNG"), Some(Png));
        assert_eq!(ImageType::from_extension("a.jpeg"), Some(Jpeg));
        assert_eq!(ImageType::from_extension("a.jpg"), Some(Jpeg));
        assert_eq!(ImageType::from_extension("a.gif"), Some(Gif));
        assert_eq!(ImageType::from_extension("a.webp"), Some(Webp));
        assert_eq!(ImageType::from_extension("a.svg"), None);
        assert_eq!(ImageType::from_extension("png"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_and_names_are_judged_without_panic(head in proptest::collection::vec(proptest::num::u8::ANY, 0..32), name in "\\PC*") {
            let _ = ImageType::from_magic(&head);
            let _ = ImageType::from_extension(&name);
        }

        #[test]
        fn real_magic_followed_by_anything_is_its_type(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..16)) {
            for (magic, kind) in [(&b"\x89PNG\r\n\x1a\n"[..], Png), (b"\xff\xd8\xff", Jpeg), (b"GIF89a", Gif)] {
                let mut head = magic.to_vec();
                head.extend_from_slice(&tail);
                proptest::prop_assert_eq!(ImageType::from_magic(&head), Some(kind));
            }
        }
    }

    #[test]
    fn magic_bytes() {
        assert_eq!(ImageType::from_magic(b"\x89PNG\r\n\x1a\n\0\0\0\r"), Some(Png));
        assert_eq!(ImageType::from_magic(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some(Jpeg));
        assert_eq!(ImageType::from_magic(b"GIF89a\x01\0\x01\0\0\0"), Some(Gif));
        assert_eq!(ImageType::from_magic(b"RIFF\x24\0\0\0WEBPVP8 "), Some(Webp));
        assert_eq!(ImageType::from_magic(b"<svg xmlns=\"http"), None);
        assert_eq!(ImageType::from_magic(b"\x89PN"), None);
    }
}
