//! The toy service over real HTTP on a loopback port: QuickPizza's API and /metrics.

use lab_engine::runner::http::LiveClient;
use lab_engine::runner::vu::{WorldRequest, WorldResponse};
use lab_engine::toy::{Scenario, ToyServer};

fn send(
    c: &mut LiveClient,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    max_body: usize,
) -> WorldResponse {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let req = WorldRequest {
        method,
        path_and_query: path,
        headers: &headers,
        body: body.as_bytes(),
        timeout: 10.0,
    };
    c.send(addr, &req, max_body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_quickpizza_and_prometheus() {
    let server = ToyServer::start(0, Scenario::baseline(), 3)
        .await
        .expect("start");
    let addr = server.addr();
    let results = tokio::task::spawn_blocking(move || {
        let mut c = LiveClient::default();
        let auth = [("Authorization", "token abcdef0123456789"), ("Content-Type", "application/json")];
        let home = send(&mut c, addr, "GET", "/", &[], "", 1 << 20);
        let pizza = send(&mut c, addr, "POST", "/api/pizza", &auth, r#"{"maxCaloriesPerSlice":1000,"mustBeVegetarian":false,"excludedIngredients":[],"excludedTools":[],"maxNumberOfToppings":5,"minNumberOfToppings":2}"#, 1 << 20);
        let no_token = send(&mut c, addr, "POST", "/api/pizza", &[], "{}", 1 << 20);
        let bad_json = send(&mut c, addr, "POST", "/api/pizza", &auth, "{not json", 1 << 20);
        let ingredients = send(&mut c, addr, "GET", "/api/ingredients/olive_oil?is_vegetarian=true", &[], "", 1 << 20);
        let metrics = send(&mut c, addr, "GET", "/metrics", &[], "", 1 << 22);
        (home, pizza, no_token, bad_json, ingredients, metrics)
    })
    .await
    .expect("join");
    let (home, pizza, no_token, bad_json, ingredients, metrics) = results;
    assert_eq!(home.status, 200);
    assert!(String::from_utf8_lossy(&home.body).contains("<html"));
    assert_eq!(pizza.status, 200, "{:?}", pizza.error);
    let v: serde_json::Value = serde_json::from_slice(&pizza.body).expect("json");
    for key in ["name", "dough", "ingredients", "tool", "id"] {
        assert!(!v["pizza"][key].is_null(), "pizza.{key} missing: {v}");
    }
    assert!(v["calories"].is_number() && v["vegetarian"].is_boolean());
    assert_eq!(no_token.status, 401);
    assert_eq!(bad_json.status, 400);
    assert_eq!(ingredients.status, 200);
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"POST\",path=\"/api/pizza\",status=\"200\",le=\"+Inf\"} 1"), "{text}");
    assert!(
        text.contains("http_requests_total{method=\"POST\",path=\"/api/pizza\",status=\"401\"} 1")
    );
    assert!(text.contains("pizza_recommendations_total{"));
    assert!(text.contains("scylla_storage_proxy_coordinator_read_latency_bucket{shard="));
    assert!(text.contains("scylla_compaction_manager_pending_compactions"));
    assert!(text.contains("scylla_database_total_reads_per_token_range{"));
    server.shutdown().await;
}
