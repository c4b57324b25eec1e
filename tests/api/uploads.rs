use crate::both_backends;
use crate::helpers::*;

both_backends! {
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
        for path in ["/uploads/..%2Fsecret.png", "/uploads/%2E%2E%2Fsecret.png", "/uploads/../secret.png",
                     "/uploads/.upload-abc.png", "/uploads/..%5Csecret.png", "/uploads/%2Fetc%2Fpasswd"] {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(status_and_json(response).await, (404, error_body("Not found")), "{path}");
        }
    }
}
