use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::both_backends;
use crate::helpers::*;

fn stored_pic(app: &TestApp, email: &str) -> Option<String> {
    app.user(email).profile_pic
}

async fn upload_stores_picture_and_returns_its_url(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("pic@example.com").await;
    let id = app.user_id("pic@example.com");
    let bytes = png_image(40, 30);

    let (status, body) = status_and_json(
        app.upload("/api/upload_profile_pic", &token, "test.png", bytes.clone()).await,
    )
    .await;
    let url = format!("http://127.0.0.1:{}/uploads/{id}_test.png", app.port);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "success", "message": "Profile picture updated", "profile_pic_url": url})
    );

    assert_eq!(app.stored_files(), vec![format!("{id}_test.png")]);
    // Stored re-encoded: the same pixels, not necessarily the same bytes.
    let stored = std::fs::read(app.upload_dir.join(format!("{id}_test.png"))).unwrap();
    assert_eq!(pixels(&stored), pixels(&bytes));
    assert_eq!(stored_pic(&app, "pic@example.com"), Some(format!("{id}_test.png")));

    let (_, me) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(me["user"]["profile_pic_url"], json!(url));

    let served = app.client.get(&url).send().await.unwrap();
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().to_vec(), stored);
}

async fn upload_alias_route_behaves_like_the_main_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("alias@example.com").await;
    let id = app.user_id("alias@example.com");
    let (status, body) = status_and_json(
        app.upload("/upload_profile_pic", &token, "test.jpg", jpeg_image(16, 16)).await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["profile_pic_url"],
        json!(format!("http://127.0.0.1:{}/uploads/{id}_test.jpg", app.port))
    );
    assert_eq!(app.stored_files(), vec![format!("{id}_test.jpg")]);
    let served = app.client.get(body["profile_pic_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");
}

async fn upload_accepts_each_allowed_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("types@example.com").await;
    use image::ImageFormat::*;
    let id = app.user_id("types@example.com");
    for (name, format) in
        [("a.png", Png), ("b.jpeg", Jpeg), ("c.JPG", Jpeg), ("d.gif", Gif), ("e.webp", WebP)]
    {
        let response =
            app.upload("/api/upload_profile_pic", &token, name, image_bytes(format, 12, 10)).await;
        assert_eq!(response.status().as_u16(), 200, "{name}");
        // Stored in the format it came in.
        let stored = std::fs::read(app.upload_dir.join(format!("{id}_{name}"))).unwrap();
        assert_eq!(image::guess_format(&stored).unwrap(), format, "{name}");
        assert_eq!(pixels(&stored).dimensions(), (12, 10), "{name}");
    }
}

async fn upload_replaces_previous_picture(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("again@example.com").await;
    let id = app.user_id("again@example.com");
    app.upload("/api/upload_profile_pic", &token, "first.png", png_image(4, 4)).await;
    assert_eq!(app.stored_files(), vec![format!("{id}_first.png")]);

    let second = png_image(5, 5);
    let response =
        app.upload("/api/upload_profile_pic", &token, "second.png", second.clone()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.stored_files(), vec![format!("{id}_second.png")]);
    assert_eq!(stored_pic(&app, "again@example.com"), Some(format!("{id}_second.png")));

    // Same name again: replaced in place.
    let third = png_image(6, 6);
    app.upload("/api/upload_profile_pic", &token, "second.png", third.clone()).await;
    assert_eq!(app.stored_files(), vec![format!("{id}_second.png")]);
    let stored = std::fs::read(app.upload_dir.join(format!("{id}_second.png"))).unwrap();
    assert_eq!(pixels(&stored), pixels(&third));
}

async fn upload_without_file_is_400_no_file_uploaded(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("nofile@example.com").await;
    let expected = (400, error_body("No file uploaded"));

    // A form without a profile_pic part.
    let form = reqwest::multipart::Form::new().text("other", "value");
    let response = app.upload_form("/api/upload_profile_pic", &token, form).await;
    assert_eq!(status_and_json(response).await, expected);

    // A profile_pic part with an empty filename (a form submitted with no file chosen).
    let response = app.upload("/api/upload_profile_pic", &token, "", png_bytes(100)).await;
    assert_eq!(status_and_json(response).await, expected);

    // A profile_pic part that is a plain field, not a file.
    let form = reqwest::multipart::Form::new().text("profile_pic", "not a file");
    let response = app.upload_form("/api/upload_profile_pic", &token, form).await;
    assert_eq!(status_and_json(response).await, expected);

    // Not multipart at all.
    let response = app
        .client
        .post(app.url("/api/upload_profile_pic"))
        .bearer_auth(&token)
        .json(&json!({"profile_pic": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(response).await, expected);

    assert!(app.stored_files().is_empty());
    assert_eq!(stored_pic(&app, "nofile@example.com"), None);
}

async fn upload_rejects_disallowed_or_disguised_types(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("types@example.com").await;
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let cases = [
        ("pic.svg", svg.clone()),
        ("pic.png", svg),
        ("pic.txt", png_bytes(100)),
        ("pic", png_bytes(100)),
        ("pic.jpg", png_bytes(100)),
        ("pic.png", jpeg_bytes(100)),
        ("pic.png", b"\x89PN".to_vec()),
        ("pic.png", Vec::new()),
        ("pic.png.html", png_bytes(100)),
    ];
    for (name, bytes) in cases {
        let response = app.upload("/api/upload_profile_pic", &token, name, bytes).await;
        assert_eq!(
            status_and_json(response).await,
            (400, error_body("Invalid file type")),
            "{name}"
        );
    }
    assert!(app.stored_files().is_empty());
    assert_eq!(stored_pic(&app, "types@example.com"), None);
}

async fn upload_keeps_traversal_names_inside_upload_dir(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("trav@example.com").await;
    let id = app.user_id("trav@example.com");
    let outside = app.upload_dir.parent().unwrap().to_owned();
    for (name, stored) in [
        ("../../x.png", "x.png"),
        ("/tmp/abs.png", "tmp_abs.png"),
        ("..\\..\\win.png", "win.png"),
        (".hidden.png", "hidden.png"),
        ("my pic (1).png", "my_pic_1.png"),
    ] {
        let (status, body) = status_and_json(
            app.upload("/api/upload_profile_pic", &token, name, png_image(2, 2)).await,
        )
        .await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(
            body["profile_pic_url"],
            json!(format!("http://127.0.0.1:{}/uploads/{id}_{stored}", app.port)),
            "{name}"
        );
        assert_eq!(app.stored_files(), vec![format!("{id}_{stored}")], "{name}");
    }
    let mut beside: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    let expected: Vec<String> = match backend {
        Backend::Sqlite => vec!["data".into(), "mail".into(), "uploads".into()],
        Backend::Postgres => vec!["mail".into(), "uploads".into()],
    };
    assert_eq!(beside, expected);
}

async fn upload_over_limit_is_413_and_leaves_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.uploads.max_bytes = 10_000).await;
    let token = app.register_and_login("big@example.com").await;
    let (status, body) = status_and_json(
        app.upload("/api/upload_profile_pic", &token, "big.png", png_bytes(64 * 1024)).await,
    )
    .await;
    assert_eq!((status, body), (413, error_body("File too large")));
    assert!(app.stored_files().is_empty());
    assert_eq!(stored_pic(&app, "big@example.com"), None);

    // A file that fits still goes through.
    let response =
        app.upload("/api/upload_profile_pic", &token, "small.png", png_image(10, 10)).await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn upload_over_limit_keeps_previous_picture(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.uploads.max_bytes = 10_000).await;
    let token = app.register_and_login("keep@example.com").await;
    let id = app.user_id("keep@example.com");
    let response = app.upload("/api/upload_profile_pic", &token, "keep.png", png_image(3, 3)).await;
    assert_eq!(response.status().as_u16(), 200);
    let kept = std::fs::read(app.upload_dir.join(format!("{id}_keep.png"))).unwrap();
    let response =
        app.upload("/api/upload_profile_pic", &token, "keep.png", png_bytes(50_000)).await;
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(app.stored_files(), vec![format!("{id}_keep.png")]);
    assert_eq!(std::fs::read(app.upload_dir.join(format!("{id}_keep.png"))).unwrap(), kept);
}

async fn upload_uses_public_url_when_set(backend: Backend) {
    let app =
        spawn_app_with(backend, |s| s.server.public_url = Some("https://auth.example.com/".into()))
            .await;
    let token = app.register_and_login("public@example.com").await;
    let id = app.user_id("public@example.com");
    let (_, body) = status_and_json(
        app.upload("/api/upload_profile_pic", &token, "test.png", png_image(2, 2)).await,
    )
    .await;
    assert_eq!(
        body["profile_pic_url"],
        json!(format!("https://auth.example.com/uploads/{id}_test.png"))
    );
    let (_, me) = status_and_json(app.get_me(Some(&format!("Bearer {token}"))).await).await;
    assert_eq!(
        me["user"]["profile_pic_url"],
        json!(format!("https://auth.example.com/uploads/{id}_test.png"))
    );
}

async fn aborted_upload_leaves_no_file(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register_and_login("abort@example.com").await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = upload_request_head(&token, 1_000_000) + &part_head("profile_pic", "cut.png");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&png_bytes(20_000)).await.unwrap();
    stream.flush().await.unwrap();

    // The part is being written to a temporary file...
    let temp_appeared =
        eventually(|| ready(app.stored_files().iter().any(|f| f.starts_with(".upload-")))).await;
    assert!(temp_appeared, "no temporary file while the upload streams: {:?}", app.stored_files());
    // ...until the client goes away.
    drop(stream);
    let cleaned = eventually(|| ready(app.stored_files().is_empty())).await;
    assert!(cleaned, "left behind: {:?}", app.stored_files());
    assert_eq!(stored_pic(&app, "abort@example.com"), None);
}

async fn picture_urls_follow_forwarded_headers_only_from_a_trusted_proxy(backend: Backend) {
    let forged = [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "javascript")];
    let upload = |app: &TestApp, token: String, headers: Vec<(&'static str, &'static str)>| {
        let part = reqwest::multipart::Part::bytes(png_image(2, 2)).file_name("me.png");
        let form = reqwest::multipart::Form::new().part("profile_pic", part);
        let mut request =
            app.client.post(app.url("/api/upload_profile_pic")).bearer_auth(token).multipart(form);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };

    let direct = spawn_app(backend).await;
    let token = direct.register_and_login("direct@example.com").await;
    let id = direct.user_id("direct@example.com");
    let (status, body) =
        status_and_json(upload(&direct, token, forged.to_vec()).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["profile_pic_url"],
        format!("http://127.0.0.1:{}/uploads/{id}_me.png", direct.port)
    );

    let proxied = spawn_app_with(backend, |s| {
        s.trusted_proxies.networks = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    let token = proxied.register_and_login("proxied@example.com").await;
    let id = proxied.user_id("proxied@example.com");
    let https = vec![("X-Forwarded-Host", "auth.example"), ("X-Forwarded-Proto", "https")];
    for (headers, expected) in [
        (https, format!("https://auth.example/uploads/{id}_me.png")),
        (forged.to_vec(), format!("http://evil.example/uploads/{id}_me.png")),
    ] {
        let (status, body) =
            status_and_json(upload(&proxied, token.clone(), headers).await.unwrap()).await;
        assert_eq!((status, body["profile_pic_url"].as_str().unwrap()), (200, expected.as_str()));
    }
}

both_backends!(
    picture_urls_follow_forwarded_headers_only_from_a_trusted_proxy,
    upload_stores_picture_and_returns_its_url,
    upload_alias_route_behaves_like_the_main_route,
    upload_accepts_each_allowed_type,
    upload_replaces_previous_picture,
    upload_without_file_is_400_no_file_uploaded,
    upload_rejects_disallowed_or_disguised_types,
    upload_keeps_traversal_names_inside_upload_dir,
    upload_over_limit_is_413_and_leaves_nothing,
    upload_over_limit_keeps_previous_picture,
    upload_uses_public_url_when_set,
    aborted_upload_leaves_no_file
);
