//! Writes the pictures of the review's hostile-upload findings (issue 12, item 1) into a
//! folder, for `bench/hostile_uploads.py`. Usage: hostile_images DIR
//!
//! - `gif-257.gif`: a 14 KiB GIF whose 4096×4095 canvas decodes to 257 colours (256 in the
//!   frame's palette, and the transparent canvas around it), so that re-encoding it quantises
//!   16.7 M pixels;
//! - `webp-lossless.webp`: a lossless WebP of 4096×4096 that is a few hundred bytes;
//! - `gif-257-legal.gif` and `webp-legal.webp`: the same at the largest canvas still accepted
//!   after the fix (the pixel cap), so that the re-encoding itself is measured too.
use std::{fs::File, io::BufWriter, path::Path};

use image::{ImageEncoder, codecs::webp::WebPEncoder};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: hostile_images DIR");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("folder");
    gif_with_257_colours(&dir.join("gif-257.gif"), 4096, 4095);
    gif_with_257_colours(&dir.join("gif-257-legal.gif"), 3500, 3500);
    lossless_webp(&dir.join("webp-lossless.webp"), 4096, 4096);
    lossless_webp(&dir.join("webp-legal.webp"), 3500, 3500);
}

/// One frame a row shorter than the canvas, with 256 colours in its first row and the rest of
/// it one colour (which LZW packs into almost nothing).
fn gif_with_257_colours(path: &Path, width: u16, height: u16) {
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
    let out = BufWriter::new(File::create(path).expect("create"));
    let mut encoder = gif::Encoder::new(out, width, height, &[]).expect("encoder");
    let mut pixels = vec![0u8; usize::from(width) * usize::from(height - 1)];
    for (i, pixel) in pixels.iter_mut().take(256).enumerate() {
        *pixel = i as u8;
    }
    let frame = gif::Frame {
        width,
        height: height - 1,
        buffer: pixels.into(),
        palette: Some(palette),
        ..gif::Frame::default()
    };
    encoder.write_frame(&frame).expect("frame");
}

/// One colour: the lossless coder turns the whole canvas into a handful of codes.
fn lossless_webp(path: &Path, width: u32, height: u32) {
    let pixels = vec![90u8; width as usize * height as usize * 4];
    let out = BufWriter::new(File::create(path).expect("create"));
    WebPEncoder::new_lossless(out)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgba8)
        .expect("webp");
}
