//! `STORAGE=s3`: the upload contract with the pictures in a real S3 API server's bucket.

use serde_json::json;

use crate::both_backends;
use crate::helpers::s3::{FaultyProxy, PREFIX, PartFault, S3Server};
use crate::helpers::*;

/// An app whose pictures go to a new bucket on `server`.
async fn spawn_app_on_s3(backend: Backend, server: &S3Server) -> (TestApp, String) {
    let bucket = server.new_bucket().await;
    let storage = server.storage(&bucket);
    let app = spawn_app_with(backend, |s| s.storage = storage).await;
    (app, bucket)
}

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

async fn a_picture_goes_to_the_bucket_and_is_served_from_it(backend: Backend) {
    let server = S3Server::shared();
    let (app, bucket) = spawn_app_on_s3(backend, server).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");
    let sent = png_image(40, 30);

    let response = app.upload("/api/upload_profile_pic", &token, "test.png", sent.clone()).await;
    let url = format!("http://127.0.0.1:{}/uploads/{id}_test.png", app.port);
    assert_eq!(
        status_and_json(response).await,
        (
            200,
            json!({"status": "success", "message": "Profile picture updated", "profile_pic_url": url})
        )
    );
    let (stored, etag) = server.object(&bucket, &key(&format!("{id}_test.png"))).await;
    assert_eq!(
        server.objects(&bucket).await,
        [(key(&format!("{id}_test.png")), stored.len() as u64)]
    );
    // Re-encoded on the way, as on disk; nothing of it left in UPLOAD_DIR.
    assert_eq!(pixels(&stored), pixels(&sent));
    assert_eq!(app.stored_files(), Vec::<String>::new());

    let served = app.client.get(&url).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
    let headers = served.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-length"], stored.len().to_string().as_str());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(headers["cache-control"], "public, no-cache");
    assert_eq!(headers["etag"], etag.as_str());
    assert!(headers.contains_key("last-modified"));
    assert_eq!(served.bytes().await.unwrap().to_vec(), stored);

    let revalidated = app.client.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(revalidated.status().as_u16(), 304);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let changed = app.client.get(&url).header("If-None-Match", "\"other\"").send().await.unwrap();
    assert_eq!(changed.status().as_u16(), 200);

    let missing = app.client.get(app.url("/uploads/999_none.png")).send().await.unwrap();
    assert_eq!(status_and_json(missing).await, (404, error_body("Not found")));
    let (_, me) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(me["user"]["profile_pic_url"], json!(url));
}

async fn a_replaced_picture_and_a_deleted_accounts_picture_leave_the_bucket(backend: Backend) {
    let server = S3Server::shared();
    let (app, bucket) = spawn_app_on_s3(backend, server).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let (app, token) = (&app, &token);
        async move { app.upload("/api/upload_profile_pic", token, name, bytes).await.status() }
    };

    assert_eq!(upload("a.png", png_image(8, 8)).await.as_u16(), 200);
    assert_eq!(upload("b.jpg", jpeg_image(8, 8)).await.as_u16(), 200);
    let objects = server.objects(&bucket).await;
    assert_eq!(
        objects.iter().map(|(key, _)| key.clone()).collect::<Vec<_>>(),
        [key(&format!("{id}_b.jpg"))]
    );
    // The same name again replaces the object in place.
    assert_eq!(upload("b.jpg", jpeg_image(20, 10)).await.as_u16(), 200);
    let (stored, _) = server.object(&bucket, &key(&format!("{id}_b.jpg"))).await;
    assert_eq!(pixels(&stored).dimensions(), (20, 10));
    assert_eq!(server.objects(&bucket).await.len(), 1);

    let (status, _) = app.delete_user(&token, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200);
    assert_eq!(server.objects(&bucket).await, []);
}

async fn refused_and_failed_uploads_leave_no_object(backend: Backend) {
    let server = S3Server::shared();
    let bucket = server.new_bucket().await;
    let storage = server.storage(&bucket);
    let app = spawn_app_with(backend, |s| {
        s.storage = storage;
        s.uploads.max_bytes = 64 * 1024;
    })
    .await;
    let token = app.register_and_login("pic@example.com").await;

    let wrong_type = app.upload("/api/upload_profile_pic", &token, "a.png", jpeg_image(8, 8)).await;
    assert_eq!(status_and_json(wrong_type).await, (400, error_body("Invalid file type")));
    let too_large =
        app.upload("/api/upload_profile_pic", &token, "a.png", png_bytes(200 * 1024)).await;
    assert_eq!(status_and_json(too_large).await, (413, error_body("File too large")));
    // Passes the type check, but is no picture.
    let undecodable = app.upload("/api/upload_profile_pic", &token, "a.png", png_bytes(4096)).await;
    assert_eq!(undecodable.status().as_u16(), 400);

    assert_eq!(server.objects(&bucket).await, []);
    assert_eq!(server.unfinished_uploads(&bucket).await, Vec::<String>::new());
    assert_eq!(app.stored_files(), Vec::<String>::new());
    assert_eq!(app.user("pic@example.com").profile_pic, None);
}

/// A picture larger than one part goes up as a multipart upload (S3 gives such an object an
/// ETag ending in `-<parts>`), read back whole.
async fn a_large_picture_goes_up_in_parts(backend: Backend) {
    let server = S3Server::shared();
    let bucket = server.new_bucket().await;
    let storage = server.storage(&bucket);
    let app = spawn_app_with(backend, |s| {
        s.storage = storage;
        s.uploads.max_bytes = 16 * 1024 * 1024;
    })
    .await;
    let token = app.register_and_login("big@example.com").await;
    let id = app.user_id("big@example.com");
    // Noise: about 3 bytes a pixel after re-encoding too, over one 5 MiB part.
    let sent = png_image(1400, 1400);

    let response = app.upload("/api/upload_profile_pic", &token, "big.png", sent.clone()).await;
    assert_eq!(response.status().as_u16(), 200);
    let (stored, etag) = server.object(&bucket, &key(&format!("{id}_big.png"))).await;
    assert!(stored.len() > 5 * 1024 * 1024, "{} bytes", stored.len());
    assert!(etag.ends_with("-2\""), "a two-part upload's ETag, got {etag}");
    assert_eq!(pixels(&stored), pixels(&sent));
    assert_eq!(server.unfinished_uploads(&bucket).await, Vec::<String>::new());

    let served = app.client.get(app.url(&format!("/uploads/{id}_big.png"))).send().await.unwrap();
    assert_eq!(served.bytes().await.unwrap().to_vec(), stored);
}

/// An app whose bucket is reached through a proxy that fails second parts with `fault`,
/// allowing uploads of `timeout_secs`.
async fn spawn_app_behind(
    backend: Backend,
    server: &S3Server,
    fault: PartFault,
    timeout_secs: u64,
) -> (TestApp, String, FaultyProxy) {
    let bucket = server.new_bucket().await;
    let proxy = FaultyProxy::start(server.port, fault).await;
    let mut storage = server.storage(&bucket);
    let auth_service::uploads::storage::StorageSettings::S3(s3) = &mut storage else {
        unreachable!()
    };
    s3.endpoint = Some(proxy.endpoint());
    let app = spawn_app_with(backend, |s| {
        s.storage = storage;
        s.uploads.max_bytes = 16 * 1024 * 1024;
        s.uploads.timeout_secs = timeout_secs;
    })
    .await;
    (app, bucket, proxy)
}

/// No multipart upload unfinished (the abort may still be on its way), no object, no temporary
/// file, and the row names no picture.
async fn nothing_is_left(server: &S3Server, bucket: &str, app: &TestApp, email: &str) {
    assert!(
        eventually(|| async { server.unfinished_uploads(bucket).await.is_empty() }).await,
        "an unfinished multipart upload is left: {:?}",
        server.unfinished_uploads(bucket).await
    );
    assert_eq!(server.objects(bucket).await, []);
    assert_eq!(app.stored_files(), Vec::<String>::new());
    assert_eq!(app.user(email).profile_pic, None);
}

/// The connection cut in the middle of a multipart upload: 503, and the upload is aborted,
/// so the bucket keeps neither an object nor the first part.
async fn an_upload_cut_off_in_its_second_part_leaves_no_parts(backend: Backend) {
    let server = S3Server::shared();
    let (app, bucket, proxy) = spawn_app_behind(backend, server, PartFault::Cut, 120).await;
    let token = app.register_and_login("big@example.com").await;

    let response =
        app.upload("/api/upload_profile_pic", &token, "big.png", png_image(1400, 1400)).await;
    assert_eq!(status_and_json(response).await, (503, error_body("Picture storage unavailable")));
    // The first try and object_store's two retries.
    assert_eq!(proxy.caught(), 3);
    nothing_is_left(server, &bucket, &app, "big@example.com").await;
}

/// The store stops answering in the middle of a multipart upload: the upload's deadline drops
/// the request's future, and with it the upload, which is aborted.
async fn an_upload_past_its_deadline_in_its_second_part_leaves_no_parts(backend: Backend) {
    let server = S3Server::shared();
    let (app, bucket, proxy) = spawn_app_behind(backend, server, PartFault::Stall, 8).await;
    let token = app.register_and_login("big@example.com").await;

    let response =
        app.upload("/api/upload_profile_pic", &token, "big.png", png_image(1400, 1400)).await;
    assert_eq!(status_and_json(response).await, (408, error_body("Upload took too long")));
    // The deadline came during the second part, not before the upload began.
    assert_eq!(proxy.caught(), 1);
    nothing_is_left(server, &bucket, &app, "big@example.com").await;
}

/// The store going away answers uploads and picture reads 503, keeps everything else
/// working, shows in /readyz, and is used again once it is back, with no restart.
async fn the_store_down_answers_503_and_recovers(backend: Backend) {
    let mut server = S3Server::start();
    let (app, bucket) = spawn_app_on_s3(backend, &server).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");
    let upload = || app.upload("/api/upload_profile_pic", &token, "a.png", png_image(8, 8));
    assert_eq!(upload().await.status().as_u16(), 200);
    assert_eq!(get(&app, "/readyz").await, (200, ready_body()));

    server.stop();
    let refused = upload().await;
    assert_eq!(refused.headers()["retry-after"], "5");
    assert_eq!(status_and_json(refused).await, (503, error_body("Picture storage unavailable")));
    let picture = app.client.get(app.url(&format!("/uploads/{id}_a.png"))).send().await.unwrap();
    assert_eq!(status_and_json(picture).await, (503, error_body("Picture storage unavailable")));
    assert_eq!(app.me_status(&token).await, 200);
    assert_eq!(app.login("pic@example.com", PASSWORD).await.status().as_u16(), 200);
    let degraded = json!({"status": "degraded", "checks": {"database": "ok", "storage": "down"}});
    assert_eq!(get(&app, "/readyz").await, (200, degraded));
    // The row still names the picture the store had.
    assert_eq!(app.user("pic@example.com").profile_pic, Some(format!("{id}_a.png")));
    assert_eq!(app.stored_files(), Vec::<String>::new());

    // Back, empty (moto keeps nothing): the same app stores there again.
    server.restart();
    server.create_bucket(&bucket).await;
    assert_eq!(get(&app, "/readyz").await, (200, ready_body()));
    assert_eq!(upload().await.status().as_u16(), 200);
    assert_eq!(server.objects(&bucket).await.len(), 1);
}

/// With `S3_PUBLIC_URL`, picture URLs point at the store (or a CDN) by the object's key.
async fn picture_urls_point_at_s3_public_url(backend: Backend) {
    let server = S3Server::shared();
    let bucket = server.new_bucket().await;
    let mut storage = server.storage(&bucket);
    let auth_service::uploads::storage::StorageSettings::S3(s3) = &mut storage else {
        unreachable!()
    };
    s3.public_url = Some("https://cdn.example.com".into());
    let app = spawn_app_with(backend, |s| s.storage = storage).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");

    let response = app.upload("/api/upload_profile_pic", &token, "a.png", png_image(8, 8)).await;
    let url = format!("https://cdn.example.com/{PREFIX}{id}_a.png");
    assert_eq!(status_and_json(response).await.1["profile_pic_url"], json!(url));
    let (_, me) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(me["user"]["profile_pic_url"], json!(url));
}

/// A replica that died between storing a picture and naming it (or before removing a replaced
/// one) leaves it noted as unsettled: the sweeper removes it once due, unless a row names it.
async fn a_picture_left_unnamed_by_a_crash_is_swept(backend: Backend) {
    use auth_service::db::unsettled_pictures;
    let server = S3Server::shared();
    let (app, bucket) = spawn_app_on_s3(backend, server).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");
    let upload = app.upload("/api/upload_profile_pic", &token, "kept.png", png_image(8, 8)).await;
    assert_eq!(upload.status().as_u16(), 200);
    // What the dead replica left: two stored pictures no row names, noted, and the named one
    // noted again by an upload of the same name that never finished.
    let storage = &app.state.uploads.storage;
    for name in ["98_orphan.png", "99_not_yet.png"] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), png_image(4, 4)).unwrap();
        let kind = auth_service::uploads::sniff::ImageType::Png;
        storage.put(file.into_temp_path(), name, kind).await.unwrap();
    }
    let now = chrono::Utc::now().naive_utc();
    let hour = chrono::Duration::hours(1);
    let mut conn = app.db();
    unsettled_pictures::note(&mut conn, "98_orphan.png", now - hour).unwrap();
    unsettled_pictures::note(&mut conn, "99_not_yet.png", now + hour).unwrap();
    unsettled_pictures::note(&mut conn, &format!("{id}_kept.png"), now - hour).unwrap();

    let removed = auth_service::account::pictures::sweep(&app.state, now).await.unwrap();
    assert_eq!(removed, 1);
    let keys: Vec<String> = server.objects(&bucket).await.into_iter().map(|(key, _)| key).collect();
    let mut expected = [key("99_not_yet.png"), key(&format!("{id}_kept.png"))];
    expected.sort();
    assert_eq!(keys, expected);
    // Only the one not yet due is still noted.
    use diesel::{QueryDsl, RunQueryDsl};
    let noted: Vec<String> = auth_service::db::schema::unsettled_pictures::table
        .select(auth_service::db::schema::unsettled_pictures::name)
        .load(&mut conn)
        .unwrap();
    assert_eq!(noted, ["99_not_yet.png"]);
    let served = app.client.get(app.url(&format!("/uploads/{id}_kept.png"))).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
}

/// Nothing is left noted by uploads, replacements and deletions that finish.
async fn finished_uploads_leave_nothing_unsettled(backend: Backend) {
    use diesel::{QueryDsl, RunQueryDsl};
    let server = S3Server::shared();
    let (app, bucket) = spawn_app_on_s3(backend, server).await;
    let token = app.register_and_login("pic@example.com").await;
    for name in ["a.png", "b.png", "b.png"] {
        let upload = app.upload("/api/upload_profile_pic", &token, name, png_image(8, 8)).await;
        assert_eq!(upload.status().as_u16(), 200);
    }
    let wrong = app.upload("/api/upload_profile_pic", &token, "c.png", jpeg_image(8, 8)).await;
    assert_eq!(wrong.status().as_u16(), 400);
    let noted = || {
        auth_service::db::schema::unsettled_pictures::table
            .count()
            .get_result::<i64>(&mut app.db())
            .unwrap()
    };
    assert_eq!(noted(), 0);
    let (status, _) = app.delete_user(&token, &json!({"password": PASSWORD})).await;
    assert_eq!(status, 200);
    assert_eq!(noted(), 0);
    assert_eq!(server.objects(&bucket).await, []);
}

async fn get(app: &TestApp, path: &str) -> (u16, serde_json::Value) {
    status_and_json(app.client.get(app.url(path)).send().await.unwrap()).await
}

async fn only_objects_named_like_pictures_are_served_and_as_pictures(backend: Backend) {
    // A bucket shared with other data: the service serves no object it could not have stored,
    // and a picture's type comes from its name, not from whoever wrote the object.
    let server = S3Server::shared();
    let (app, bucket) = spawn_app_on_s3(backend, server).await;
    server.put_object(&bucket, &key("1_hashes.csv"), b"email,hash\n", "text/csv").await;
    server.put_object(&bucket, &key("backup.png"), &png_image(2, 2), "image/png").await;
    server.put_object(&bucket, &key("7_page.png"), b"<script>alert(1)</script>", "text/html").await;
    for name in ["1_hashes.csv", "backup.png"] {
        let response = app.client.get(app.url(&format!("/uploads/{name}"))).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{name}");
    }
    let response = app.client.get(app.url("/uploads/7_page.png")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

both_backends!(
    only_objects_named_like_pictures_are_served_and_as_pictures,
    a_picture_goes_to_the_bucket_and_is_served_from_it,
    a_replaced_picture_and_a_deleted_accounts_picture_leave_the_bucket,
    refused_and_failed_uploads_leave_no_object,
    a_large_picture_goes_up_in_parts,
    an_upload_cut_off_in_its_second_part_leaves_no_parts,
    an_upload_past_its_deadline_in_its_second_part_leaves_no_parts,
    the_store_down_answers_503_and_recovers,
    picture_urls_point_at_s3_public_url,
    a_picture_left_unnamed_by_a_crash_is_swept,
    finished_uploads_leave_nothing_unsettled,
);

/// `auth-service storage migrate` with the environment of a `STORAGE=s3` deployment.
fn storage_migrate(
    server: &S3Server,
    bucket: &str,
    upload_dir: &std::path::Path,
    storage: &str,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .args(["storage", "migrate", "--progress-every", "2"])
        .env_clear()
        .env("UPLOAD_DIR", upload_dir)
        .env("STORAGE", storage)
        .env("S3_BUCKET", bucket)
        .env("S3_ENDPOINT", server.endpoint())
        .env("S3_PREFIX", PREFIX)
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn storage_migrate_copies_upload_dirs_pictures_once() {
    let server = S3Server::shared();
    let bucket = server.new_bucket().await;
    let dir = tempfile::TempDir::new().unwrap();
    let pictures =
        [("1_a.png", png_image(8, 8)), ("2_b.jpg", jpeg_image(9, 9)), ("3_c.png", png_image(5, 5))];
    for (name, bytes) in &pictures {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    // An upload cut off by a crash, and a file no upload made.
    std::fs::write(dir.path().join(".upload-x1"), b"half").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"notes").unwrap();

    let first = storage_migrate(server, &bucket, dir.path(), "s3");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(
        String::from_utf8(first.stdout).unwrap(),
        "storage migrate: 2/3 pictures: 2 copied, 0 already in the bucket, 2 other files ignored\n\
         storage migrate: 3/3 pictures: 3 copied, 0 already in the bucket, 2 other files ignored\n"
    );
    let expected: Vec<(String, u64)> =
        pictures.iter().map(|(name, bytes)| (key(name), bytes.len() as u64)).collect();
    assert_eq!(server.objects(&bucket).await, expected);
    for (name, bytes) in &pictures {
        assert_eq!(&server.object(&bucket, &key(name)).await.0, bytes, "{name}");
    }

    // Again, with one more picture since: only that one is copied.
    std::fs::write(dir.path().join("4_d.png"), png_image(4, 4)).unwrap();
    let second = storage_migrate(server, &bucket, dir.path(), "s3");
    assert_eq!(
        String::from_utf8(second.stdout).unwrap(),
        "storage migrate: 2/4 pictures: 0 copied, 2 already in the bucket, 2 other files ignored\n\
         storage migrate: 4/4 pictures: 1 copied, 3 already in the bucket, 2 other files ignored\n"
    );
    assert_eq!(server.objects(&bucket).await.len(), 4);

    let not_s3 = storage_migrate(server, &bucket, dir.path(), "fs");
    assert!(!not_s3.status.success());
    assert_eq!(
        String::from_utf8(not_s3.stderr).unwrap(),
        "auth-service storage migrate: STORAGE is not s3: there is no bucket to copy the pictures to\n"
    );
}
