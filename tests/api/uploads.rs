use crate::both_backends;
use crate::helpers::*;

async fn serving_unknown_picture_is_404_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.get(app.url("/uploads/1_missing.png")).send().await.unwrap();
    assert_eq!(status_and_json(response).await, (404, error_body("Not found")));
}

async fn serving_refuses_paths_outside_upload_dir_and_temp_files(backend: Backend) {
    let app = spawn_app(backend).await;
    // A file beside UPLOAD_DIR, and a temporary-looking file inside it.
    std::fs::write(app.upload_dir.parent().unwrap().join("secret.png"), b"secret").unwrap();
    std::fs::write(app.upload_dir.join(".upload-abc.png"), b"half").unwrap();
    for path in [
        "/uploads/..%2Fsecret.png",
        "/uploads/%2E%2E%2Fsecret.png",
        "/uploads/../secret.png",
        "/uploads/%2e%2e%2fsecret.png",
        "/uploads/%2e%2e/secret.png",
        "/uploads/..\\secret.png",
        "/uploads/.upload-abc.png",
        "/uploads/..%5Csecret.png",
        "/uploads/%2Fetc%2Fpasswd",
        "/uploads/secret.png%00.png",
        "/uploads/%00",
        "/uploads/",
        "/uploads",
        "/uploads/.",
        "/uploads/%2e",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{path}");
    }
}

async fn serving_refuses_files_not_named_like_pictures(backend: Backend) {
    // UPLOAD_DIR may hold more than pictures (an operator's folder, the database's): only the
    // names an upload stores, `<user id>_<name>.<picture extension>`, are served.
    let app = spawn_app(backend).await;
    for name in ["auth.db", "mfa-encryption.key", "1_hashes.csv", "notes.png", "1_x.svg", "x_1.png"]
    {
        std::fs::write(app.upload_dir.join(name), png_bytes(64)).unwrap();
        let response = app.client.get(app.url(&format!("/uploads/{name}"))).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{name}");
    }
    std::fs::write(app.upload_dir.join("1_photo.JPG"), jpeg_image(2, 2)).unwrap();
    let response = app.client.get(app.url("/uploads/1_photo.JPG")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
}

both_backends!(
    serving_refuses_files_not_named_like_pictures,
    serving_unknown_picture_is_404_json,
    serving_refuses_paths_outside_upload_dir_and_temp_files
);

async fn serving_never_follows_a_symlink(backend: Backend) {
    let app = spawn_app(backend).await;
    let outside = app.upload_dir.parent().unwrap().join("secret.png");
    std::fs::write(&outside, png_bytes(64)).unwrap();
    std::os::unix::fs::symlink(&outside, app.upload_dir.join("1_link.png")).unwrap();
    std::fs::create_dir(app.upload_dir.join("1_dir.png")).unwrap();
    for path in ["/uploads/1_link.png", "/uploads/1_dir.png"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{path}");
    }
}

async fn served_pictures_carry_nosniff_csp_and_a_revalidating_cache_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    std::fs::write(app.upload_dir.join("1_a.png"), png_bytes(64)).unwrap();
    let response = app.client.get(app.url("/uploads/1_a.png")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(headers["cache-control"], "public, no-cache");
    let etag = headers["etag"].clone();
    let again = app
        .client
        .get(app.url("/uploads/1_a.png"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
}

both_backends!(
    serving_never_follows_a_symlink,
    served_pictures_carry_nosniff_csp_and_a_revalidating_cache_policy
);
