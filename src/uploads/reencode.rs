//! Decodes an uploaded picture and writes it anew in its own format. What is stored is then
//! only pixels: EXIF (phone photos carry the place they were taken), comments, trailing data
//! and any polyglot payload are gone (OWASP File Upload cheat sheet: "rewrite the image").

use std::{
    fs::File,
    io::{BufReader, BufWriter, Seek, Write},
    path::Path,
};

use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits,
    codecs::{jpeg::JpegEncoder, webp::WebPEncoder},
    metadata::Orientation,
};

use super::sniff::ImageType;
use crate::error::ApiError;

/// Largest accepted width and height. A small file can declare a huge canvas (a decompression
/// bomb); the decoder refuses it from its header, before allocating.
pub const MAX_DIMENSION: u32 = 4096;
/// What a decoded picture may occupy: the largest canvas at 4 bytes a pixel (64 MiB).
pub const MAX_DECODED_BYTES: u64 = MAX_DIMENSION as u64 * MAX_DIMENSION as u64 * 4;
const JPEG_QUALITY: u8 = 90;

/// Re-encodes the image at `source` (already known by its magic bytes to be `kind`) into
/// `dest`. Blocking and CPU-bound: callers run it on the blocking pool.
pub fn reencode(source: &Path, kind: ImageType, dest: &mut File) -> Result<(), ApiError> {
    let image = decode(source, kind)?;
    let mut out = BufWriter::new(dest);
    let written = match kind {
        ImageType::Png => write_png(image, &mut out),
        // JPEG has no alpha channel.
        ImageType::Jpeg => image
            .into_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        // An animated GIF keeps its first frame: a profile picture is one picture.
        ImageType::Gif => image.into_rgba8().write_to(&mut out, ImageFormat::Gif),
        // image's WebP encoder writes lossless 8-bit RGB(A) only.
        ImageType::Webp => {
            image.into_rgba8().write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
    };
    written.map_err(ApiError::internal)?;
    out.flush()?;
    Ok(())
}

/// PNG through the png crate's stream writer: it compresses as it goes, where image's own PNG
/// encoder builds the whole compressed image in memory first (as much again as the pixels).
fn write_png(image: DynamicImage, out: &mut (impl Write + Seek)) -> image::ImageResult<()> {
    let (width, height) = (image.width(), image.height());
    let (color, pixels) = match image {
        DynamicImage::ImageLuma8(pixels) => (png::ColorType::Grayscale, pixels.into_raw()),
        DynamicImage::ImageLumaA8(pixels) => (png::ColorType::GrayscaleAlpha, pixels.into_raw()),
        DynamicImage::ImageRgb8(pixels) => (png::ColorType::Rgb, pixels.into_raw()),
        DynamicImage::ImageRgba8(pixels) => (png::ColorType::Rgba, pixels.into_raw()),
        // 16-bit and float pictures are rare enough to take image's own path.
        other => return other.write_to(out, ImageFormat::Png),
    };
    let encode = || -> Result<(), png::EncodingError> {
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        // fdeflate: several times faster than zlib-style levels, files a few percent larger.
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        let mut stream = writer.stream_writer()?;
        stream.write_all(&pixels)?;
        stream.finish()?;
        writer.finish()
    };
    encode().map_err(|error| {
        ImageError::Encoding(image::error::EncodingError::new(ImageFormat::Png.into(), error))
    })
}

fn decode(source: &Path, kind: ImageType) -> Result<DynamicImage, ApiError> {
    let format = match kind {
        ImageType::Png => ImageFormat::Png,
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Gif => ImageFormat::Gif,
        ImageType::Webp => ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(BufReader::new(File::open(source)?), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = (|| {
        let mut decoder = reader.into_decoder()?;
        // Dropping EXIF drops the camera's "rotate me" flag too: apply it to the pixels. An
        // unreadable EXIF block only loses its rotation, not the picture.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);
        Ok(image)
    })();
    decoded.map_err(|error: ImageError| match error {
        ImageError::Limits(_) => ApiError::ImageTooLarge,
        // The file was written moments ago: ending early means the picture is cut short.
        ImageError::IoError(error) if error.kind() != std::io::ErrorKind::UnexpectedEof => {
            ApiError::internal(error)
        }
        // Right magic bytes, but not a picture its decoder can read.
        _ => ApiError::InvalidFileType,
    })
}
