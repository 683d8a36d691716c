//! The command line: `serve`, `migrate`, `admin`, `content`.

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup;

/// Masterclass: the Performance Engineering Masterclass, self-hosted.
///
/// Configuration comes from environment variables (MASTERCLASS_DATA_DIR,
/// MASTERCLASS_ADDR, DATABASE_URL, MASTERCLASS_ADMIN_EMAIL, MASTERCLASS_ADMIN_PASSWORD,
/// MASTERCLASS_PUBLIC_URL, MASTERCLASS_SMTP_*); see the README.
#[derive(Debug, Parser)]
#[command(name = "masterclass", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, import content, make sure an admin exists, and serve the app.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database to FILE while the server keeps running (consistent snapshot).
    Backup {
        /// The backup file to write (it must not exist unless --force).
        file: std::path::PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the SQLite database with a backup made by `masterclass backup` (server stopped).
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
        /// Replace an existing database (it is kept under a dated name).
        #[arg(long)]
        force: bool,
    },
    /// Manage administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Import course content from the content folder.
    #[command(subcommand)]
    Content(ContentCommand),
    /// Import or export the exam question bank in Moodle's GIFT format.
    #[command(subcommand)]
    Questions(QuestionsCommand),
    /// Certificates: verify a credential, rotate the signing key.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Run k6-style load-test scripts against the toy service.
    #[command(subcommand)]
    Lab(lab_engine::cli::LabCommand),
    /// The QuickPizza-compatible toy service the labs test.
    #[command(subcommand)]
    Toy(lab_engine::cli::ToyCommand),
    /// Evaluate PromQL and run promqltest files.
    #[command(subcommand)]
    Promql(slo_toolkit::cli::PromqlCommand),
    /// SLO specs to burn-rate rules, alert replays and quality gates.
    #[command(subcommand)]
    Slo(slo_toolkit::cli::SloCommand),
    /// The server's grading child: one request on stdin, answers on stdout.
    #[command(hide = true)]
    LabSandbox(lab_grader::sandbox::ChildArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator account (the password is generated and printed if not given).
    Create {
        /// The administrator's email address.
        #[arg(long)]
        email: String,
        /// The name shown on pages.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// The password; prefer MASTERCLASS_ADMIN_PASSWORD so it stays out of shell history.
        #[arg(long, env = "MASTERCLASS_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Make an existing account an administrator.
    Promote {
        /// The account's email address.
        email: String,
    },
    /// Print a one-hour password-reset link for an account.
    ResetLink {
        /// The account's email address.
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Check a certificate's credential (a VC-JWT file): issuer, signature, dates, revocation.
    ///
    /// The credential is checked as one from a platform you name (--issuer), or by
    /// default from this platform: MASTERCLASS_PUBLIC_URL, with its keys and
    /// revocations read from the local database when there is one. A credential
    /// naming another issuer is refused, whatever keys it points at.
    Verify {
        /// The credential file (as downloaded from the certificate's page).
        file: std::path::PathBuf,
        /// The platform that must have issued it, e.g. https://masterclass.example.org
        /// (its keys come from there, or from --jwks).
        #[arg(long)]
        issuer: Option<String>,
        /// Check against this JWKS file (the issuer's keys) instead of fetching them.
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// Do not fetch anything: needs --jwks (or the local database); the revocation
        /// status is not checked.
        #[arg(long)]
        offline: bool,
    },
    /// Make a new signing key the active one; earlier keys stay published.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// Import every course under the content folder (idempotent; broken files are reported and skipped).
    Import {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Make a short narrated video of each module's key takeaways (espeak-ng, ffmpeg,
    /// rsvg-convert) into the data dir's media/<course>/generated/; skipped when the tools are missing.
    Videos {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Only the module with this slug.
        #[arg(long)]
        module: Option<String>,
        /// Remake videos whose script has not changed.
        #[arg(long)]
        force: bool,
    },
    /// Write the database's courses back to the content folder, byte for byte
    /// (stops, writing nothing, when a file changed on both sides since the last sync).
    Export {
        /// The content folder (default: MASTERCLASS_CONTENT_DIR or ./content).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuestionsCommand {
    /// Import a GIFT file into the question bank (all or nothing; a changed question gets a new version).
    Import {
        /// The GIFT file.
        file: std::path::PathBuf,
        /// The course whose bank it goes to (default: the only course).
        #[arg(long)]
        course: Option<String>,
    },
    /// Write the question bank as GIFT to standard output.
    Export {
        /// Only this category.
        #[arg(long)]
        category: Option<String>,
        /// The course whose bank to export (default: the only course).
        #[arg(long)]
        course: Option<String>,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let json = std::env::var("MASTERCLASS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The lab tools' exit codes (k6 uses 99, 107, …) pass through unchanged.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(1)
}

/// Runs a command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    // The lab tools print for people and scripts; they keep their own output quiet.
    match cli.command {
        Command::Cert(CertCommand::Verify {
            file,
            issuer,
            jwks,
            offline,
        }) => return cert_verify(&file, issuer.as_deref(), jwks.as_deref(), offline).await,
        Command::Lab(cmd) => return exit_code(lab_engine::cli::run_lab_command(cmd).await),
        Command::Toy(cmd) => return exit_code(lab_engine::cli::run_toy_command(cmd).await),
        Command::Promql(cmd) => return exit_code(slo_toolkit::cli::run_promql_command(cmd)),
        Command::Slo(cmd) => return exit_code(slo_toolkit::cli::run_slo_command(cmd)),
        Command::LabSandbox(args) => return exit_code(lab_grader::sandbox::child_main(args).await),
        _ => {}
    }
    init_tracing();
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn run_inner(cli: Cli) -> anyhow::Result<u8> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            startup::database(&settings).await?;
            println!(
                "migrations applied to {}",
                startup::redact(&settings.database_url)
            );
            Ok(0)
        }
        Command::Backup { file, force } => {
            let done = crate::ops::backup(&settings, &file, force).await?;
            println!(
                "backed up to {} ({} bytes, schema {:04})",
                done.path.display(),
                done.bytes,
                done.schema
            );
            Ok(0)
        }
        Command::Restore { file, force } => {
            let done = crate::ops::restore(&settings, &file, force).await?;
            if let Some(kept) = &done.kept {
                println!("the replaced database is kept as {}", kept.display());
            }
            println!(
                "restored {} to {} (schema {:04}; `masterclass serve` applies newer migrations)",
                file.display(),
                done.path.display(),
                done.schema
            );
            Ok(0)
        }
        Command::Admin(cmd) => admin(settings, cmd).await,
        Command::Questions(cmd) => questions(settings, cmd).await,
        Command::Cert(CertCommand::RotateKey) => {
            let db = startup::database(&settings).await?;
            let kid = app::certs::keys::rotate(&db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("new signing key {kid} is active; earlier keys stay published");
            Ok(0)
        }
        Command::Cert(CertCommand::Verify { .. }) => Ok(0),
        Command::Lab(_)
        | Command::Toy(_)
        | Command::Promql(_)
        | Command::Slo(_)
        | Command::LabSandbox(_) => Ok(0),
        Command::Content(ContentCommand::Import { dir }) => {
            let mut settings = settings;
            if let Some(d) = dir {
                settings.content_dir = d;
            }
            if !settings.content_dir.is_dir() {
                anyhow::bail!(
                    "content folder {} does not exist",
                    settings.content_dir.display()
                );
            }
            let db = startup::database(&settings).await?;
            let sync = app::course::sync::import_dir(&db, &settings.content_dir).await?;
            if !sync.conflicts.is_empty() {
                for c in &sync.conflicts {
                    eprintln!("conflict: {c} changed in the folder and in the database since the last sync");
                }
                anyhow::bail!(
                    "{} conflicting files; nothing was imported. Keep one side: export the database to another folder and merge, or undo one change",
                    sync.conflicts.len()
                );
            }
            for k in &sync.kept {
                println!("kept {k} (the database's version is newer; export writes it back)");
            }
            println!(
                "{} files added, {} updated, {} removed",
                sync.added.len(),
                sync.updated.len(),
                sync.removed.len()
            );
            let published = app::course::sync::publish(&db, &settings.media_dir()).await?;
            let report = &published.report;
            for c in &report.imported {
                println!("imported {c}");
            }
            for c in &report.unchanged {
                println!("unchanged {c}");
            }
            for p in &report.problems {
                eprintln!("{p}");
            }
            for p in &published.exam_problems {
                eprintln!("{p}");
            }
            println!(
                "{} modules and {} labs stored, {} problems",
                report.modules,
                report.labs,
                report.problems.len() + published.exam_problems.len()
            );
            Ok(
                if report.problems.is_empty() && published.exam_problems.is_empty() {
                    0
                } else {
                    1
                },
            )
        }
        Command::Content(ContentCommand::Videos { dir, module, force }) => {
            let dir = dir.unwrap_or_else(|| settings.content_dir.clone());
            crate::videos::command(&dir, &settings.media_dir(), module.as_deref(), force)
        }
        Command::Content(ContentCommand::Export { dir }) => {
            let dir = dir.unwrap_or_else(|| settings.content_dir.clone());
            let db = startup::database(&settings).await?;
            let sync = app::course::sync::export_dir(&db, &dir).await?;
            if !sync.conflicts.is_empty() {
                for c in &sync.conflicts {
                    eprintln!("conflict: {c} changed in the folder and in the database since the last sync");
                }
                anyhow::bail!(
                    "{} conflicting files; nothing was exported",
                    sync.conflicts.len()
                );
            }
            for k in &sync.kept {
                println!("kept {k} (the folder's version is newer; import reads it in)");
            }
            println!(
                "{} files written, {} updated, into {}",
                sync.added.len(),
                sync.updated.len(),
                dir.display()
            );
            Ok(0)
        }
    }
}

async fn fetch_text(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url} answered {}", r.status()));
    }
    r.text()
        .await
        .map_err(|e| format!("cannot read {url}: {e}"))
}

/// Where `cert verify` takes the issuer's keys and revocations from.
enum KeySource {
    /// A JWKS file the person named.
    File(std::path::PathBuf),
    /// The local platform's database.
    Database(app::db::Db),
    /// The issuer's published JWKS and status list.
    Fetch,
}

/// The issuer `cert verify` checks against when none is named: this platform's,
/// when the environment describes one (MASTERCLASS_PUBLIC_URL, or a database
/// beside it), with the database when there is one. `Ok(None)`: no platform here.
async fn local_issuer() -> Result<Option<(String, Option<app::db::Db>)>, String> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let settings = Settings::from_env().map_err(|e| format!("{e:#}"))?;
    let database = set("DATABASE_URL")
        || settings
            .database_url
            .strip_prefix("sqlite://")
            .and_then(|rest| rest.split('?').next())
            .is_some_and(|path| std::path::Path::new(path).is_file());
    if !database && !set("MASTERCLASS_PUBLIC_URL") {
        return Ok(None);
    }
    let db = if database {
        Some(
            app::db::connect(&settings.database_url, 1)
                .await
                .map_err(|e| {
                    format!(
                        "cannot open the platform's database ({}): {e}",
                        startup::redact(&settings.database_url)
                    )
                })?,
        )
    } else {
        None
    };
    Ok(Some((settings.public_url, db)))
}

/// The issuer's revocation list, fetched from the issuer's own address (never
/// from one the credential names elsewhere). `Ok(None)`: the credential has no
/// status entry.
async fn fetch_status_list(
    payload: &serde_json::Value,
    issuer: Option<&str>,
) -> Result<Option<String>, String> {
    use app::certs::verify;
    let Some(named) = verify::status_list_url(payload) else {
        return Ok(None);
    };
    if let Some(issuer) = issuer {
        let own = verify::status_list_url_for(issuer);
        if named != own {
            return Err(format!(
                "the credential's status list {named} is not its issuer's ({own})"
            ));
        }
    }
    fetch_text(&named).await.map(Some)
}

/// `cert verify`: prints the issuer and each check, and exits 0 only for a
/// valid, unrevoked credential of the issuer checked against. Everything it
/// prints passes through [`app::certs::text::for_terminal`]: a credential is
/// anyone's text, and must not drive the terminal showing it.
async fn cert_verify(
    file: &std::path::Path,
    issuer: Option<&str>,
    jwks: Option<&std::path::Path>,
    offline: bool,
) -> u8 {
    use app::certs::text::for_terminal as clean;
    use app::certs::{jose, verify};
    let fail = |message: String| {
        eprintln!("error: {}", clean(&message));
        1
    };
    let token = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let payload = jose::Jws::parse(&token).map(|j| j.payload);
    let claimed = payload.as_ref().ok().and_then(verify::issuer_id);

    // Which issuer, and where its keys come from.
    let (expected, source) = match issuer {
        Some(url) => {
            let base = verify::issuer_base(url);
            match reqwest::Url::parse(&base) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => {
                    return fail(format!(
                        "--issuer {url:?} is not a platform's address; expected something like https://masterclass.example.org"
                    ))
                }
            }
            (Some(verify::issuer_id_of(&base)), None)
        }
        None => match local_issuer().await {
            Err(e) => return fail(e),
            Ok(Some((public_url, db))) => (Some(verify::issuer_id_of(&public_url)), db),
            Ok(None) if jwks.is_some() => (None, None),
            Ok(None) => {
                return fail(format!(
                    "say which issuer this credential must come from: --issuer URL (the platform's address){}. \
                     Beside a platform, MASTERCLASS_PUBLIC_URL (and its database) name it.",
                    claimed
                        .as_deref()
                        .map(|c| format!("; the credential claims {c}, which proves nothing by itself"))
                        .unwrap_or_default()
                ))
            }
        },
    };
    let source = match (jwks, source) {
        (Some(path), _) => KeySource::File(path.to_path_buf()),
        (None, Some(db)) => KeySource::Database(db),
        (None, None) if offline => return fail(
            "--offline needs --jwks FILE (the issuer's published keys) or the platform's database"
                .into(),
        ),
        (None, None) => KeySource::Fetch,
    };
    println!(
        "issuer      {}",
        clean(
            claimed
                .as_deref()
                .unwrap_or("(none named in the credential)")
        )
    );
    match &expected {
        Some(e) => println!("checked as  {}", clean(e)),
        None => println!(
            "checked as  (not checked: no --issuer; the keys are the ones in {})",
            clean(&jwks.map(|p| p.display().to_string()).unwrap_or_default())
        ),
    }

    // A credential of another issuer is refused before anything is fetched for it.
    if let (Some(e), Some(c)) = (&expected, &claimed) {
        if e != c {
            let report = verify::verify_issued_by(
                &token,
                e,
                &[],
                verify::StatusSource::Skipped(String::new()),
            );
            return print_report(&report);
        }
    }

    let keys = match &source {
        KeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|t| {
                serde_json::from_str::<serde_json::Value>(&t)
                    .map_err(|_| "the JWKS is not valid JSON".to_string())
            })
            .and_then(|v| jose::keys_from_jwks(&v)),
        KeySource::Database(db) => app::certs::keys::public_keys(db)
            .await
            .map(|k| k.into_iter().map(|(kid, key, _)| (kid, key)).collect())
            .map_err(|e| format!("cannot read the platform's keys from its database: {e}")),
        KeySource::Fetch => {
            // Only from the issuer checked against; the credential's own claim is not asked.
            let Some(e) = &expected else {
                return fail("no issuer to fetch keys from".into());
            };
            match fetch_text(&verify::jwks_url_for(e)).await {
                Ok(t) => serde_json::from_str::<serde_json::Value>(&t)
                    .map_err(|_| "the issuer's JWKS is not valid JSON".to_string())
                    .and_then(|v| jose::keys_from_jwks(&v)),
                Err(e) => Err(e),
            }
        }
    };
    let keys = match keys {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let status = match (&payload, &source, offline) {
        (Err(e), _, _) => verify::StatusSource::Failed(e.clone()),
        (Ok(_), KeySource::Database(db), _) => match app::certs::store::revoked_indices(db).await {
            Ok(revoked) => verify::StatusSource::Bits(app::certs::credential::bitstring(&revoked)),
            Err(e) => verify::StatusSource::Failed(format!(
                "cannot read revocations from the platform's database: {e}"
            )),
        },
        (Ok(_), _, true) => verify::StatusSource::Skipped("--offline".into()),
        (Ok(p), _, false) => match fetch_status_list(p, expected.as_deref()).await {
            // Signed by the issuer's keys, or not believed.
            Ok(Some(doc)) => match verify::status_bits(&doc, &keys) {
                Ok(bits) => verify::StatusSource::Bits(bits),
                Err(e) => verify::StatusSource::Failed(e),
            },
            Ok(None) => verify::StatusSource::Skipped("the credential has no status entry".into()),
            Err(e) => verify::StatusSource::Failed(e),
        },
    };
    let report = match &expected {
        Some(e) => verify::verify_issued_by(&token, e, &keys, status),
        None => verify::verify(&token, &keys, status),
    };
    print_report(&report)
}

/// Prints a verification report (each check, the recipient, the verdict) and
/// returns the exit code.
fn print_report(report: &app::certs::VerifyReport) -> u8 {
    use app::certs::text::for_terminal as clean;
    for c in &report.checks {
        println!(
            "{:<11} {}  {}",
            clean(&c.name),
            if c.ok { "ok  " } else { "FAIL" },
            clean(&c.detail)
        );
    }
    if let (Some(n), Some(a)) = (&report.recipient_name, &report.achievement) {
        println!("recipient   {}\nachievement {}", clean(n), clean(a));
    }
    if report.valid {
        println!("VALID");
        0
    } else {
        println!(
            "INVALID: {}",
            clean(report.reason.as_deref().unwrap_or_default())
        );
        1
    }
}

/// The course a `questions` command works on: the one named, or the only one.
async fn exam_course(db: &app::db::Db, course: Option<String>) -> anyhow::Result<i64> {
    match course {
        Some(slug) => app::exam::store::course_id(db, &slug)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no course has the slug {slug}")),
        None => {
            let all: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, slug FROM courses ORDER BY position, id")
                    .fetch_all(db)
                    .await?;
            match all.as_slice() {
                [(id, _)] => Ok(*id),
                [] => anyhow::bail!(
                    "there are no courses yet; run `masterclass content import` first"
                ),
                _ => anyhow::bail!(
                    "there are several courses; choose one with --course ({})",
                    all.iter()
                        .map(|(_, s)| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

async fn questions(settings: Settings, cmd: QuestionsCommand) -> anyhow::Result<u8> {
    let db = startup::database(&settings).await?;
    // A question bank belongs to a course: on a fresh database, bring the
    // courses in from the content folder first, as `serve` would.
    let (courses,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(&db)
        .await?;
    if courses == 0 && settings.content_dir.is_dir() {
        startup::import_content(&db, &settings).await?;
    }
    match cmd {
        QuestionsCommand::Import { file, course } => {
            let src = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let parsed = app::exam::store::parse_file(&file.display().to_string(), &src);
            let qs = match parsed {
                Ok(qs) => qs,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    eprintln!("nothing imported: {} problem(s)", problems.len());
                    return Ok(1);
                }
            };
            let cid = exam_course(&db, course).await?;
            let report = app::exam::store::store_questions(&db, cid, &qs).await?;
            println!(
                "{} questions read from {}: {report}",
                qs.len(),
                file.display()
            );
            Ok(0)
        }
        QuestionsCommand::Export { category, course } => {
            let cid = exam_course(&db, course).await?;
            let text = app::exam::store::export_gift(&db, cid, category.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if text.is_empty() {
                match category {
                    Some(c) => anyhow::bail!("no questions in category {c:?}"),
                    None => anyhow::bail!("the question bank is empty"),
                }
            }
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(0)
        }
    }
}

async fn admin(settings: Settings, cmd: AdminCommand) -> anyhow::Result<u8> {
    use app::auth::accounts;
    use app::auth::validate::{DisplayName, Email, NewPassword};
    let db = startup::database(&settings).await?;
    let bad = |e: app::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        AdminCommand::Create {
            email,
            name,
            password,
        } => {
            let email = Email::parse(&email).map_err(bad)?;
            let name = DisplayName::parse(&name).map_err(bad)?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (startup::generate_password(), true),
            };
            let pw = NewPassword::parse(&password).map_err(bad)?;
            accounts::create_user(&db, &email, &name, &pw, true)
                .await
                .map_err(bad)?;
            println!("administrator {} created", email.as_str());
            if generated {
                println!("password (shown once): {password}");
            }
            Ok(0)
        }
        AdminCommand::Promote { email } => {
            let email = Email::parse(&email).map_err(bad)?;
            if accounts::promote(&db, &email).await.map_err(bad)? {
                println!("{} is now an administrator", email.as_str());
                Ok(0)
            } else {
                anyhow::bail!("no account has the email {}", email.as_str())
            }
        }
        AdminCommand::ResetLink { email } => {
            match accounts::issue_reset_link(&db, &settings.public_url, &email)
                .await
                .map_err(bad)?
            {
                Some(link) => {
                    println!("{link}");
                    Ok(0)
                }
                None => anyhow::bail!("no account has the email {}", email.trim()),
            }
        }
    }
}

/// How long running lab runs get to finish on a stop before they are handed back.
const LAB_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// How long open connections (live event streams) get to close on a stop.
const HTTP_DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

async fn serve(settings: Settings) -> anyhow::Result<u8> {
    let db = startup::database(&settings).await?;
    // `restore` refuses to swap the database under a running server.
    let _running = crate::ops::hold_data_dir(&settings.data_dir)?;
    if settings.content_dir.is_dir() {
        startup::import_content(&db, &settings).await?;
    } else {
        tracing::warn!(dir = %settings.content_dir.display(), "no content folder; serving what the database holds");
    }
    if let Some((email, password)) = startup::ensure_admin(&db, &settings).await? {
        println!(
            "\n  An administrator account was created. These credentials are shown only once:\n"
        );
        println!("    email:    {email}\n    password: {password}\n");
    }
    let mut limits = app::auth::ratelimit::Limits::default();
    limits.register_per_ip.max = settings.signups_per_hour;
    let server = startup::build(&settings, db, limits).await?;
    // Installed before the address is printed: a SIGTERM sent the moment the
    // server says it is serving must be a graceful stop, not the default kill.
    let stop_signal = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.addr))?;
    // The bound address, not the configured one: with port 0 the system picks it.
    let addr = listener.local_addr().unwrap_or(settings.addr);
    println!("Masterclass is serving at http://{addr}");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Header, body and idle timeouts and a connection cap (see crate::serve).
    let http = crate::serve::serve(listener, server.router, settings.http, async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    tokio::pin!(http);
    tokio::select! {
        r = &mut http => r?,
        () = stop_signal => {
            // A graceful stop: no new lab runs are claimed, running ones get a
            // moment to finish and are otherwise handed back to the queue for
            // another instance; requests in flight (exam saves) complete.
            let _ = stop_tx.send(true);
            let labs = server.state.labs.clone();
            let (handed, http) = tokio::join!(
                labs.drain(&server.state.db, LAB_DRAIN),
                tokio::time::timeout(HTTP_DRAIN, &mut http)
            );
            if handed > 0 {
                tracing::info!(runs = handed, "lab runs handed back to the queue");
            }
            match http {
                Ok(r) => r?,
                Err(_) => tracing::warn!("connections still open after {} s; closing them", HTTP_DRAIN.as_secs()),
            }
            server.state.db.close().await;
        }
    }
    tracing::info!("stopped");
    Ok(0)
}

/// The stop signals (SIGTERM, SIGINT / Ctrl-C), registered when this is called;
/// the returned future completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        async move {
            tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        stop.await;
        tracing::info!("shutting down");
    })
}
