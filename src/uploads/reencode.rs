//! Decodes an uploaded picture and writes it anew in its own format. What is stored is then
//! only pixels: EXIF (phone photos carry the place they were taken), comments, trailing data
//! and any polyglot payload are gone (OWASP File Upload cheat sheet: "rewrite the image").

use std::{
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
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
/// Largest accepted canvas, in pixels (12 Mi, 12,582,912): a 12-megapixel phone photo
/// (4032×3024) fits; every step of re-encoding costs CPU by the pixel, so this bounds it.
pub const MAX_PIXELS: u64 = 12 * 1024 * 1024;
/// What a decoder may allocate, the decoded picture included: the largest canvas at 4 bytes a
/// pixel (48 MiB).
pub const MAX_DECODED_BYTES: u64 = MAX_PIXELS * 4;
const JPEG_QUALITY: u8 = 90;
/// The GIF encoder's quantiser speed (1 to 30) for pictures of more than 256 colours: NeuQuant
/// learns from one pixel in this many. At 1 (image's default) a 12-megapixel canvas took 103
/// CPU-seconds, at 10 (the gif crate's "compromise") 5.2, at 30 0.46 (`bench/hostile_uploads.sh`).
/// A GIF's frame has at most 256 colours already (more come only from transparency or a
/// smaller frame), so the fastest learning loses little.
const GIF_QUANTISER_SPEED: i32 = 30;

/// Set when the upload waiting for a re-encoding has given up on it (its deadline passed, or
/// its client went away): the work then stops at its next read or write.
#[derive(Clone, Default)]
pub struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn check(&self) -> io::Result<()> {
        if self.0.load(Ordering::Relaxed) {
            // Not `Interrupted`: `read_exact` and `write_all` retry on that.
            return Err(io::Error::new(io::ErrorKind::TimedOut, "upload abandoned"));
        }
        Ok(())
    }
}

/// Re-encodes the image in `source` (already known by its magic bytes to be `kind`) into
/// `dest`. Blocking and CPU-bound: callers run it on the picture threads.
pub fn reencode(
    source: File,
    kind: ImageType,
    dest: File,
    abandoned: &Abandoned,
) -> Result<(), ApiError> {
    let image = decode(source, kind, abandoned)?;
    abandoned.check().map_err(|_| ApiError::UploadTimeout)?;
    let mut out = Watched { inner: BufWriter::new(dest), abandoned };
    // Each encoder takes the decoded colour type as it is where it can (no copy of the
    // pixels); write_with_encoder converts only what the encoder cannot take.
    let written = match kind {
        ImageType::Png => write_png(image, &mut out),
        ImageType::Jpeg => {
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        // An animated GIF keeps its first frame: a profile picture is one picture.
        ImageType::Gif => write_gif(image, &mut out),
        // image's WebP encoder writes lossless 8-bit pictures only.
        ImageType::Webp => image.write_with_encoder(WebPEncoder::new_lossless(&mut out)),
    };
    match written {
        Ok(()) => {}
        Err(ImageError::IoError(error)) if error.kind() == io::ErrorKind::TimedOut => {
            return Err(ApiError::UploadTimeout);
        }
        Err(error) => return Err(ApiError::internal(error)),
    }
    out.flush()?;
    Ok(())
}

/// GIF through the gif crate: the frame is quantised in the decoded buffer itself (image's
/// encoder copies it first) and at `GIF_QUANTISER_SPEED`.
fn write_gif(image: DynamicImage, out: &mut impl Write) -> image::ImageResult<()> {
    let encoding = |error: gif::EncodingError| {
        ImageError::Encoding(image::error::EncodingError::new(ImageFormat::Gif.into(), error))
    };
    // Both are at most MAX_DIMENSION.
    let (width, height) = (image.width() as u16, image.height() as u16);
    let mut pixels = image.into_rgba8().into_raw();
    let frame = gif::Frame::from_rgba_speed(width, height, &mut pixels, GIF_QUANTISER_SPEED);
    drop(pixels);
    let mut encoder = gif::Encoder::new(out, width, height, &[]).map_err(encoding)?;
    encoder.write_frame(&frame).map_err(encoding)
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

fn decode(source: File, kind: ImageType, abandoned: &Abandoned) -> Result<DynamicImage, ApiError> {
    let format = match kind {
        ImageType::Png => ImageFormat::Png,
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Gif => ImageFormat::Gif,
        ImageType::Webp => ImageFormat::WebP,
    };
    let mut source = BufReader::new(source);
    source.rewind()?;
    let mut reader = ImageReader::with_format(Watched { inner: source, abandoned }, format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = (|| {
        let mut decoder = reader.into_decoder()?;
        // Not every decoder counts its output against max_alloc (WebP's does not): checked
        // here, from the header, before any pixel is decoded.
        let (width, height) = decoder.dimensions();
        if !fits(width, height, decoder.total_bytes()) {
            return Err(ImageError::Limits(image::error::LimitError::from_kind(
                image::error::LimitErrorKind::DimensionError,
            )));
        }
        // Dropping EXIF drops the camera's "rotate me" flag too: apply it to the pixels. An
        // unreadable EXIF block only loses its rotation, not the picture.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);
        Ok(image)
    })();
    decoded.map_err(|error: ImageError| match error {
        ImageError::Limits(_) => ApiError::ImageTooLarge,
        ImageError::IoError(error) if error.kind() == io::ErrorKind::TimedOut => {
            ApiError::UploadTimeout
        }
        // The file was written moments ago: ending early means the picture is cut short.
        ImageError::IoError(error) if error.kind() != io::ErrorKind::UnexpectedEof => {
            ApiError::internal(error)
        }
        // Right magic bytes, but not a picture its decoder can read.
        _ => ApiError::InvalidFileType,
    })
}

/// Whether a canvas of this size, decoded into `bytes`, is within the caps.
fn fits(width: u32, height: u32, bytes: u64) -> bool {
    width <= MAX_DIMENSION
        && height <= MAX_DIMENSION
        && u64::from(width) * u64::from(height) <= MAX_PIXELS
        && bytes <= MAX_DECODED_BYTES
}

/// A reader or writer that fails once the upload it works for is abandoned, so that decoding
/// and encoding (which read and write as they go) stop soon after.
struct Watched<'a, T> {
    inner: T,
    abandoned: &'a Abandoned,
}

impl<T: Read> Read for Watched<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.abandoned.check()?;
        self.inner.read(buf)
    }
}

impl<T: BufRead> BufRead for Watched<'_, T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.abandoned.check()?;
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
    }
}

impl<T: Write> Write for Watched<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.abandoned.check()?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Watched<'_, T> {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        self.inner.seek(position)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn a_12_megapixel_phone_photo_fits_and_one_row_more_than_12_mi_pixels_does_not() {
        assert!(fits(4032, 3024, 4032 * 3024 * 3));
        assert!(fits(4096, 3072, 4096 * 3072 * 4));
        assert!(!fits(4096, 3073, 4096 * 3073 * 4));
        assert!(!fits(4097, 1, 4097 * 4));
        // 16-bit RGBA: 8 bytes a pixel.
        assert!(!fits(3000, 3000, 3000 * 3000 * 8));
    }

    fn temp_file_with(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn an_abandoned_re_encoding_stops_and_writes_nothing() {
        let picture = encoded(image::RgbImage::new(8, 8).into(), ImageFormat::Png);
        let dest = tempfile::tempfile().unwrap();
        let abandoned = Abandoned::default();
        abandoned.set();
        let result = reencode(
            temp_file_with(&picture),
            ImageType::Png,
            dest.try_clone().unwrap(),
            &abandoned,
        );
        assert!(matches!(result, Err(ApiError::UploadTimeout)), "{result:?}");
        assert_eq!(dest.metadata().unwrap().len(), 0);
    }

    #[test]
    fn a_gif_of_more_than_256_colours_is_quantised_into_one_frame_of_its_size() {
        let colourful = image::RgbaImage::from_fn(30, 20, |x, y| {
            image::Rgba([(x * 8) as u8, (y * 12) as u8, ((x + y) * 3) as u8, 255])
        });
        let picture = encoded(colourful.into(), ImageFormat::Gif);
        let mut dest = tempfile::tempfile().unwrap();
        reencode(
            temp_file_with(&picture),
            ImageType::Gif,
            dest.try_clone().unwrap(),
            &Abandoned::default(),
        )
        .unwrap();
        let mut stored = Vec::new();
        dest.rewind().unwrap();
        dest.read_to_end(&mut stored).unwrap();
        let decoded = image::load_from_memory_with_format(&stored, ImageFormat::Gif).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (30, 20));
    }
}
