//! The browser entry point: hydrates the server-rendered page and nothing else.

// Hydrating the larger admin views nests view types deeper than the default limit allows.
#![recursion_limit = "256"]

/// Called by the generated JavaScript once the wasm module is loaded.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
