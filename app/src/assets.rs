//! The page's compiled assets: the stylesheet, the wasm module and the script
//! that starts hydration.
//!
//! With hashed file names, Leptos's own `HashedStylesheet` and
//! `HydrationScripts` find the executable and read `hash.txt` on every page
//! they render. The names cannot change while the server runs, so they are
//! read once here.

use std::sync::OnceLock;

use leptos::prelude::*;

/// File names under `/pkg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub css: String,
    pub js: String,
    pub wasm: String,
}

impl Names {
    /// The names for `output`, from cargo-leptos's `hash.txt` text (`js: HASH`
    /// lines) when files are hashed, else the plain names.
    pub fn new(output: &str, hashes: Option<&str>) -> Names {
        let hash = |kind: &str| {
            hashes.and_then(|text| {
                text.lines().find_map(|line| {
                    let (k, v) = line.split_once(':')?;
                    (k.trim() == kind).then(|| format!(".{}", v.trim()))
                })
            })
        };
        // cargo-leptos names the wasm after the output (no `_bg`) when it builds.
        let plain_wasm = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
            ""
        } else {
            "_bg"
        };
        Names {
            css: format!("{output}{}.css", hash("css").unwrap_or_default()),
            js: format!("{output}{}.js", hash("js").unwrap_or_default()),
            wasm: match hash("wasm") {
                Some(h) => format!("{output}{h}.wasm"),
                None => format!("{output}{plain_wasm}.wasm"),
            },
        }
    }
}

/// Reads the names from `hash.txt` where cargo-leptos writes it: next to
/// the server binary.
fn read_names(options: &LeptosOptions) -> Names {
    let hashes = options
        .hash_files
        .then(|| {
            std::env::current_exe().ok().and_then(|exe| {
                let path = exe.parent()?.join(options.hash_file.as_ref());
                std::fs::read_to_string(path).ok()
            })
        })
        .flatten();
    Names::new(&options.output_name, hashes.as_deref())
}

/// The page's asset addresses and the script that starts hydration: the same
/// on every page while the server runs, so made once.
#[derive(Debug)]
pub struct Links {
    css: String,
    js: String,
    wasm: String,
    start: String,
}

/// The links for `options`, made on first use.
pub fn links(options: &LeptosOptions) -> &'static Links {
    static LINKS: OnceLock<Links> = OnceLock::new();
    LINKS.get_or_init(|| {
        let n = read_names(options);
        let pkg = format!("/{}", options.site_pkg_dir);
        Links {
            css: format!("{pkg}/{}", n.css),
            js: format!("{pkg}/{}", n.js),
            wasm: format!("{pkg}/{}", n.wasm),
            start: format!(
                "import init, {{ hydrate }} from '{pkg}/{js}';\ninit({{ module_or_path: '{pkg}/{wasm}' }}).then(hydrate);",
                js = n.js,
                wasm = n.wasm
            ),
        }
    })
}

/// The stylesheet link, the preloads and the module script that hydrates.
#[component]
pub fn Assets(links: &'static Links) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    view! {
        <link rel="stylesheet" id="leptos" href=links.css.as_str() />
        <link rel="modulepreload" href=links.js.as_str() />
        <link rel="preload" href=links.wasm.as_str() r#as="fetch" r#type="application/wasm" crossorigin="anonymous" />
        <script type="module" nonce=nonce>{links.start.as_str()}</script>
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn hashed_names_come_from_hash_txt() {
        let n = Names::new("masterclass", Some("js: AAA\nwasm: BBB\ncss: CCC\n"));
        assert_eq!(n.css, "masterclass.CCC.css");
        assert_eq!(n.js, "masterclass.AAA.js");
        assert_eq!(n.wasm, "masterclass.BBB.wasm");
        let plain = Names::new("masterclass", None);
        assert_eq!(plain.css, "masterclass.css");
        assert_eq!(plain.js, "masterclass.js");
        assert!(plain.wasm.starts_with("masterclass") && plain.wasm.ends_with(".wasm"));
    }
}
