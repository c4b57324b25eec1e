//! Hostile uploads: what is stored is a re-encoded picture (no EXIF, no payload), bombs and
//! broken pictures are refused, and odd multipart bodies cost bounded memory. Each refusal
//! leaves no file and no row change.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::*;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A real PNG whose IHDR then claims another size (CRC fixed up): the decoder sees the claim.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = png_image(2, 2);
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, ...; CRC after 13 data bytes.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A real lossless WebP whose VP8L header then claims another size (nothing checksums it).
fn webp_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut webp = image_bytes(image::ImageFormat::WebP, 2, 2);
    assert_eq!(&webp[12..16], b"VP8L");
    // After the signature byte: width - 1 and height - 1 in 14 bits each, then alpha, version.
    let packed = u32::from_le_bytes(webp[21..25].try_into().unwrap()) & !0x0fff_ffff;
    let packed = packed | (width - 1) | ((height - 1) << 14);
    webp[21..25].copy_from_slice(&packed.to_le_bytes());
    webp
}

/// A real GIF whose logical screen then claims another size; its frame stays 2×2, and the
/// canvas around it is transparent (one colour more than the frame's palette).
fn gif_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut gif = image_bytes(image::ImageFormat::Gif, 2, 2);
    gif[6..8].copy_from_slice(&width.to_le_bytes());
    gif[8..10].copy_from_slice(&height.to_le_bytes());
    gif
}

/// A JPEG carrying an EXIF block: orientation 6 (rotate 90°) and a location-like note.
fn jpeg_with_exif(width: u32, height: u32, note: &[u8]) -> Vec<u8> {
    let jpeg = jpeg_image(width, height);
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(
        b"\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
    );
    tiff.extend_from_slice(note);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(b"\xff\xe1");
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

async fn upload_user(app: &TestApp) -> (String, i64) {
    let token = app.register_and_login("up@example.com").await;
    (token, app.user_id("up@example.com"))
}

fn profile_pic(app: &TestApp) -> Option<String> {
    app.user("up@example.com").profile_pic
}

/// A multipart request written by hand, for bodies reqwest would not send.
async fn raw_upload(app: &TestApp, token: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/api/upload_profile_pic"))
        .bearer_auth(token)
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

async fn upload_strips_exif_and_applies_its_orientation(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, id) = upload_user(&app).await;
    let note = b"GPS 48.8584N 2.2945E home";
    let sent = jpeg_with_exif(12, 10, note);
    assert!(contains(&sent, b"Exif") && contains(&sent, note));
    let response = app.upload("/api/upload_profile_pic", &token, "phone.jpg", sent).await;
    assert_eq!(response.status().as_u16(), 200);
    let stored = std::fs::read(app.upload_dir.join(format!("{id}_phone.jpg"))).unwrap();
    assert!(!contains(&stored, b"Exif"), "EXIF kept");
    assert!(!contains(&stored, note), "location kept");
    // Rotated by 90°, as the camera asked: 12×10 becomes 10×12.
    assert_eq!(pixels(&stored).dimensions(), (10, 12));
}

async fn upload_drops_polyglot_payloads(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, id) = upload_user(&app).await;
    let payload = b"<?php system($_GET['c']); ?><script>alert(document.cookie)</script>";
    // After IEND (a PNG/PHP polyglot)...
    let mut trailing = png_image(3, 3);
    trailing.extend_from_slice(payload);
    // ...and inside a text chunk before IEND.
    let mut chunked = png_image(3, 3);
    let iend = chunked.len() - 12;
    let mut text = b"tEXtComment\x00".to_vec();
    text.extend_from_slice(payload);
    let mut chunk = ((text.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&text);
    chunk.extend_from_slice(&crc32(&text).to_be_bytes());
    chunked.splice(iend..iend, chunk);
    assert!(contains(&chunked, payload));

    for (name, bytes) in [("trailing.png", trailing), ("chunked.png", chunked)] {
        let response = app.upload("/api/upload_profile_pic", &token, name, bytes.clone()).await;
        assert_eq!(response.status().as_u16(), 200, "{name}");
        let stored = std::fs::read(app.upload_dir.join(format!("{id}_{name}"))).unwrap();
        assert!(!contains(&stored, b"<?php") && !contains(&stored, b"<script"), "{name}");
        assert_eq!(pixels(&stored), pixels(&bytes), "{name}");
    }
}

async fn upload_of_a_decompression_bomb_is_400_and_leaves_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = upload_user(&app).await;
    let too_large = (400, error_body("Image must be at most 4096x4096 pixels and 12 megapixels"));
    for (name, bytes) in [
        // A few hundred bytes claiming 100000×100000 pixels (40 GB decoded).
        ("bomb.png", png_claiming(100_000, 100_000)),
        ("wide.png", png_image(4097, 1)),
        ("tall.png", png_image(1, 4097)),
        // Within 4096 a side, but one row past 12 Mi pixels.
        ("over.png", png_claiming(4096, 3073)),
        // The review's: a few KiB that decoded to 145 MiB (WebP's decoder counts no limit) and
        // to 21-32 CPU-seconds of quantising (GIF).
        ("bomb.webp", webp_claiming(4096, 4096)),
        ("bomb.gif", gif_claiming(4096, 4095)),
    ] {
        let response = app.upload("/api/upload_profile_pic", &token, name, bytes).await;
        assert_eq!(status_and_json(response).await, too_large, "{name}");
    }
    assert!(app.stored_files().is_empty());
    assert_eq!(profile_pic(&app), None);
    // The largest side accepted.
    let response =
        app.upload("/api/upload_profile_pic", &token, "edge.png", png_image(4096, 1)).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn uploads_past_the_picture_thread_and_its_queue_are_503_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.uploads.image_threads = Some(1);
        s.uploads.image_queue_capacity = 1;
        s.uploads.image_max_wait_ms = 60_000;
    })
    .await;
    let (token, id) = upload_user(&app).await;
    let release = hold_the_picture_thread(&app).await;
    // One upload waits in the queue...
    let queued = app.upload("/api/upload_profile_pic", &token, "queued.png", png_image(2, 2));
    let mut queued = Box::pin(queued);
    let pool = &app.state.uploads.images;
    tokio::select! {
        _ = &mut queued => panic!("answered while the thread was held"),
        _ = async {
            while pool.in_flight() < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        } => {}
    }
    // ...so the next is turned away at once, and leaves nothing.
    let refused = app.upload("/api/upload_profile_pic", &token, "refused.png", png_image(2, 2));
    let refused = tokio::select! {
        _ = &mut queued => panic!("answered while the thread was held"),
        refused = refused => refused,
    };
    assert_eq!(refused.headers()["retry-after"], "60");
    assert_eq!(status_and_json(refused).await, (503, error_body("Service unavailable")));
    drop(release);
    assert_eq!(queued.await.status(), 200);
    assert_eq!(app.stored_files(), [format!("{id}_queued.png")]);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("\nimage_jobs_shed_total{reason=\"queue_full\"} 1\n"), "{metrics}");
    // The test's own job and the queued upload's.
    assert!(metrics.contains("\nimage_jobs_total 2\n"), "{metrics}");
}

async fn an_upload_cut_off_by_its_deadline_before_its_re_encoding_leaves_nothing_at_once(
    backend: Backend,
) {
    // Its files were the re-encoding's to remove: they stayed until it ended (~30 s), and the
    // re-encoding ran on after the 408 (~20 s).
    let app = spawn_app_with(backend, |s| {
        s.uploads.image_threads = Some(1);
        s.uploads.timeout_secs = 1;
    })
    .await;
    let (token, _) = upload_user(&app).await;
    let release = hold_the_picture_thread(&app).await;
    let response = app.upload("/api/upload_profile_pic", &token, "late.png", png_image(2, 2)).await;
    assert_eq!(status_and_json(response).await, (408, error_body("Upload took too long")));
    assert_eq!(app.stored_files(), Vec::<String>::new());
    drop(release);
    // The abandoned job is skipped, not run, once the thread is free.
    let pool = &app.state.uploads.images;
    assert!(eventually(|| async { pool.in_flight() == 0 }).await);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("\nimage_jobs_shed_total{reason=\"caller_gone\"} 1\n"), "{metrics}");
    assert_eq!(profile_pic(&app), None);
}

async fn upload_with_right_magic_but_no_picture_is_invalid_file_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = upload_user(&app).await;
    let mut truncated = png_image(20, 20);
    truncated.truncate(60);
    for (name, bytes) in
        [("junk.png", png_bytes(500)), ("cut.png", truncated), ("junk.jpg", jpeg_bytes(500))]
    {
        let response = app.upload("/api/upload_profile_pic", &token, name, bytes).await;
        assert_eq!(
            status_and_json(response).await,
            (400, error_body("Invalid file type")),
            "{name}"
        );
    }
    assert!(app.stored_files().is_empty());
}

async fn upload_uses_only_the_first_profile_pic_part(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, id) = upload_user(&app).await;
    let first = png_image(2, 2);
    let mut body = file_part("profile_pic", "first.png", &first);
    body.extend(file_part("profile_pic", "second.png", &png_image(3, 3)));
    body.extend(closing_boundary().into_bytes());
    let (status, reply) = raw_upload(&app, &token, &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(app.stored_files(), vec![format!("{id}_first.png")]);
}

async fn upload_with_thousands_of_parts_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = upload_user(&app).await;
    let mut body = Vec::new();
    for i in 0..5000 {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n")
                .into_bytes(),
        );
    }
    body.extend(file_part("profile_pic", "late.png", &png_image(2, 2)));
    body.extend(closing_boundary().into_bytes());
    assert_eq!(
        raw_upload(&app, &token, &body).await,
        (400, error_body("Malformed multipart body"))
    );
    assert!(app.stored_files().is_empty());
    assert_eq!(profile_pic(&app), None);
}

async fn upload_with_a_giant_part_header_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = upload_user(&app).await;
    let padded_head = part_head("profile_pic", "a.png").replacen(
        "\r\n\r\n",
        &format!("\r\nX-Pad: {}\r\n\r\n", "a".repeat(200_000)),
        1,
    );
    let mut body = padded_head.into_bytes();
    body.extend_from_slice(&png_image(2, 2));
    body.extend(format!("\r\n{}", closing_boundary()).into_bytes());
    assert_eq!(
        raw_upload(&app, &token, &body).await,
        (400, error_body("Malformed multipart body"))
    );
    assert!(app.stored_files().is_empty());
}

async fn upload_slower_than_the_deadline_is_408_and_leaves_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.uploads.timeout_secs = 1).await;
    let (token, _) = upload_user(&app).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = upload_request_head(&token, 100_000);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&file_part("profile_pic", "slow.png", &png_bytes(1000))).await.unwrap();
    // Then nothing more: the server answers when the deadline passes.
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        error_body("Upload took too long")
    );
    assert!(app.stored_files().is_empty());
    assert_eq!(profile_pic(&app), None);
}

async fn upload_with_a_300_character_name_is_stored_under_a_name_the_disk_takes(backend: Backend) {
    // Was a 500 ("File name too long"): `<id>_<name>` past 255 bytes cannot be created.
    let app = spawn_app(backend).await;
    let (token, id) = upload_user(&app).await;
    let name = format!("{}.png", "n".repeat(300));
    let (status, body) = status_and_json(
        app.upload("/api/upload_profile_pic", &token, &name, png_image(3, 3)).await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stored = profile_pic(&app).unwrap();
    assert_eq!(app.stored_files(), std::slice::from_ref(&stored));
    assert_eq!(stored.len(), 255);
    assert!(stored.starts_with(&format!("{id}_nnn")) && stored.ends_with("n.png"), "{stored}");
    assert_eq!(body["profile_pic_url"], format!("{}/uploads/{stored}", app.address));
    let served = app.client.get(app.url(&format!("/uploads/{stored}"))).send().await.unwrap();
    assert_eq!(served.status(), 200);
}

async fn concurrent_uploads_of_one_user_leave_only_the_picture_its_row_names(backend: Backend) {
    // Each read the previous name without a lock: 10 at once left 4-6 files, one referenced,
    // and some answered 503 on SQLite.
    let app = spawn_app(backend).await;
    let (token, id) = upload_user(&app).await;
    let uploads = (0..10).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            let name = format!("race{i}.png");
            app.upload("/api/upload_profile_pic", &token, &name, png_image(4, 4)).await.status()
        }
    });
    let statuses = futures_util::future::join_all(uploads).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let named = profile_pic(&app).unwrap();
    assert!(named.starts_with(&format!("{id}_race")), "{named}");
    assert_eq!(app.stored_files(), std::slice::from_ref(&named));
}

async fn a_picture_for_a_user_deleted_meanwhile_is_not_found_and_not_kept(backend: Backend) {
    // The upload's row update finds no user (a deletion won the race): no row, and not the 500
    // of a missing row.
    let app = spawn_app(backend).await;
    let (_, id) = upload_user(&app).await;
    use diesel::RunQueryDsl;
    diesel::delete(auth_service::db::schema::users::table).execute(&mut app.db()).unwrap();
    let replaced = auth_service::db::users::replace_profile_pic(&mut app.db(), id, "gone.png");
    assert_eq!(replaced.unwrap(), None);
}

async fn temporary_files_left_by_a_crash_are_swept_at_start(backend: Backend) {
    let dir = tempfile::TempDir::new().unwrap();
    let uploads = dir.path().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let abandoned = uploads.join(".upload-abandoned");
    let fresh = uploads.join(".upload-in-flight-elsewhere");
    let picture = uploads.join("1_me.png");
    for path in [&abandoned, &fresh, &picture] {
        std::fs::write(path, b"x").unwrap();
    }
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for path in [&abandoned, &picture] {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(an_hour_ago).unwrap();
    }
    let app = spawn_app_with(backend, |s| {
        s.uploads.dir = uploads.clone();
        s.uploads.timeout_secs = 120;
    })
    .await;
    assert_eq!(app.stored_files(), [".upload-in-flight-elsewhere", "1_me.png"]);
}

async fn temporary_files_left_by_a_crash_are_swept_once_idle_past_any_deadline(backend: Backend) {
    // A replica restarted soon after a crash keeps its temporary files past its start; the
    // sweep a minute takes them once no upload could still be writing them.
    let app = spawn_app_with(backend, |s| s.uploads.timeout_secs = 120).await;
    let abandoned = app.upload_dir.join(".upload-abandoned");
    let fresh = app.upload_dir.join(".upload-in-flight-elsewhere");
    let picture = app.upload_dir.join("1_me.png");
    for path in [&abandoned, &fresh, &picture] {
        std::fs::write(path, b"x").unwrap();
    }
    // Past the 120 s deadline and its minute of margin, but not twice the deadline.
    let idle = std::time::SystemTime::now() - std::time::Duration::from_secs(200);
    for path in [&abandoned, &picture] {
        std::fs::File::options().write(true).open(path).unwrap().set_modified(idle).unwrap();
    }
    auth_service::sweeper::sweep_all(&app.state, chrono::Utc::now().naive_utc()).await;
    assert_eq!(app.stored_files(), [".upload-in-flight-elsewhere", "1_me.png"]);
}

both_backends!(
    temporary_files_left_by_a_crash_are_swept_once_idle_past_any_deadline,
    concurrent_uploads_of_one_user_leave_only_the_picture_its_row_names,
    a_picture_for_a_user_deleted_meanwhile_is_not_found_and_not_kept,
    temporary_files_left_by_a_crash_are_swept_at_start,
    upload_with_a_300_character_name_is_stored_under_a_name_the_disk_takes,
    upload_strips_exif_and_applies_its_orientation,
    upload_drops_polyglot_payloads,
    upload_of_a_decompression_bomb_is_400_and_leaves_nothing,
    upload_with_right_magic_but_no_picture_is_invalid_file_type,
    upload_uses_only_the_first_profile_pic_part,
    upload_with_thousands_of_parts_is_400,
    upload_with_a_giant_part_header_is_400,
    upload_slower_than_the_deadline_is_408_and_leaves_nothing,
    uploads_past_the_picture_thread_and_its_queue_are_503_with_retry_after,
    an_upload_cut_off_by_its_deadline_before_its_re_encoding_leaves_nothing_at_once
);
