//! Pictures (real ones, and bytes that only look like one) and multipart bodies written by hand.

use super::TestApp;

/// The boundary of the multipart bodies tests write by hand (for bodies reqwest would not send,
/// or sends too fast).
pub const BOUNDARY: &str = "B0UNDARY";

/// The boundary line and headers of a file part, up to its first byte.
pub fn part_head(name: &str, filename: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
}

/// One whole file part.
pub fn file_part(name: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut part = part_head(name, filename).into_bytes();
    part.extend_from_slice(bytes);
    part.extend_from_slice(b"\r\n");
    part
}

/// The end of a multipart body.
pub fn closing_boundary() -> String {
    format!("--{BOUNDARY}--\r\n")
}

/// The head of an upload request written to a socket by hand, announcing `content_length`.
pub fn upload_request_head(token: &str, content_length: usize) -> String {
    format!(
        "POST /api/upload_profile_pic HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {content_length}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    )
}

/// A real picture of `width`×`height` pixels in `format`. The pixels are noise, so PNG cannot
/// compress it much: about 3 bytes a pixel.
pub fn image_bytes(format: image::ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let picture = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut bytes, format).expect("encode test picture");
    bytes.into_inner()
}

/// Takes the one picture thread (the test sets `IMAGE_THREADS` to 1) with a job of the test's
/// own, running once this returns; dropping the returned sender ends it.
pub async fn hold_the_picture_thread(app: &TestApp) -> std::sync::mpsc::Sender<()> {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel();
    let state = app.state.clone();
    tokio::spawn(async move {
        let job = move || {
            let _ = started.send(());
            let _ = hold.recv();
        };
        state.uploads.images.run(job).await.unwrap();
    });
    running.await.unwrap();
    release
}

pub fn png_image(width: u32, height: u32) -> Vec<u8> {
    image_bytes(image::ImageFormat::Png, width, height)
}

pub fn jpeg_image(width: u32, height: u32) -> Vec<u8> {
    image_bytes(image::ImageFormat::Jpeg, width, height)
}

/// The pixels of an encoded picture, to compare a re-encoded picture with what was sent.
pub fn pixels(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("a decodable picture").into_rgba8()
}

/// PNG magic bytes followed by `len - 8` filler bytes: passes the type sniff, but is no
/// picture (for the checks that come before decoding: size, type, streaming).
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i % 251) as u8));
    bytes
}

pub fn jpeg_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec();
    bytes.extend((0..len.saturating_sub(11)).map(|i| (i % 241) as u8));
    bytes
}
