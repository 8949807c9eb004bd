//! A throwaway PostgreSQL server for the tests: started from the machine's
//! own binaries (initdb, pg_ctl) in a temporary folder, on a free port, as
//! an unprivileged user when the tests run as root, and stopped (its folder
//! removed) when the test process ends. Without the binaries the tests are
//! skipped, with a line that says so, unless `ATTRIBUTOR_REQUIRE_POSTGRES`
//! is set: then they fail.
#![allow(dead_code)]

pub mod proxy;
pub mod workload;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use attributor::{PgStore, ProgramId};

/// The variable that turns a skip into a failure.
pub const REQUIRE: &str = "ATTRIBUTOR_REQUIRE_POSTGRES";

pub struct Server {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// The user the server runs as, when the tests run as root.
    user: Option<String>,
    /// The cleanup process's input: when this process ends, the pipe
    /// closes and the cleanup stops the server and removes its folder.
    _cleanup: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();

/// The server of this test process, started on first use; `None` (after
/// saying so) when the machine has no PostgreSQL.
pub fn server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| match find_bin() {
            Some(bin) => Some(Server::start(bin)),
            None => {
                assert!(
                    std::env::var_os(REQUIRE).is_none(),
                    "{REQUIRE} is set but no PostgreSQL server binaries (initdb, pg_ctl) were found"
                );
                say("skipped: no PostgreSQL server binaries (initdb, pg_ctl) on this machine");
                None
            }
        })
        .as_ref()
}

/// Writes a line where the test harness does not capture it (it keeps a
/// passing test's `eprintln!` to itself), so that a skip is seen.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Returns from the test, saying it was skipped, when there is no server.
#[macro_export]
macro_rules! server_or_skip {
    () => {
        match $crate::pg::server() {
            Some(server) => server,
            None => {
                $crate::pg::say(&format!("skipped: {}", module_path!()));
                return;
            }
        }
    };
}

/// Where initdb and pg_ctl are: `ATTRIBUTOR_PG_BIN`, `pg_config
/// --bindir`, the `PATH`, or Debian's `/usr/lib/postgresql/<version>/bin`
/// (the newest).
fn find_bin() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("ATTRIBUTOR_PG_BIN").map(PathBuf::from) {
        assert!(
            has_tools(&dir),
            "ATTRIBUTOR_PG_BIN is {dir:?}, which holds no initdb and pg_ctl"
        );
        return Some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            return Some(std::fs::canonicalize(&dir).unwrap_or(dir));
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let dir = e.path().join("bin");
            has_tools(&dir).then_some((version, dir))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// A port that is free now, below the range the system hands out to
/// outgoing connections, so that no client takes it while the server is
/// down (a test stops and starts it).
fn free_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|n| n.parse::<u16>().ok()))
        .unwrap_or(32768);
    let low = 20_000u16.min(ephemeral_low.saturating_sub(2_000));
    let span = u32::from(ephemeral_low.saturating_sub(low).max(1));
    // Spread by process and call, so that parallel test binaries rarely try
    // the same port.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let seed =
        std::process::id().wrapping_mul(7919) ^ CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729);
    (0..span)
        .map(|i| low + ((seed.wrapping_add(i)) % span) as u16)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The ids of `user`, from `id`.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl Server {
    fn start(bin: PathBuf) -> Self {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        // initdb and the server refuse to run as root.
        let user = is_root().then(|| {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| ids_of(u).is_some())
                .expect("an unprivileged user (postgres or nobody) to run the server as");
            (user.to_owned(), ids_of(user).expect("the user's ids"))
        });
        let root = std::env::temp_dir().join(format!("attributor-pg-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&root).expect("a temporary folder");
        let data = root.join("data");
        // From here on the folder is removed when this process ends.
        let cleanup = Self::cleanup(&bin, user.as_ref().map(|(u, _)| u.as_str()), &data, &root);
        if let Some((_, (uid, gid))) = &user {
            std::os::unix::fs::chown(&root, Some(*uid), Some(*gid))
                .expect("the folder given to the server's user");
        }
        let mut server = Self {
            port: 0,
            data: data.clone(),
            log: root.join("server.log"),
            _cleanup: Mutex::new(cleanup),
            bin,
            user: user.map(|(u, _)| u),
        };
        server.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        // TCP only: no socket file, whose path has a length limit.
        writeln!(
            conf,
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 128MB\n"
        )
        .expect("server settings");
        // A port another process took between choosing and binding it:
        // choose again.
        for attempt in 0.. {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => break,
                Err(e) if attempt < 4 => say(&format!("retrying on another port: {e}")),
                Err(e) => panic!("the server did not start: {e}"),
            }
        }
        server
    }

    /// A process that waits for this one to end (its input to close), then
    /// stops the server and removes its folder.
    fn cleanup(bin: &Path, user: Option<&str>, data: &Path, root: &Path) -> (Child, ChildStdin) {
        // In a process group of its own and deaf to the signals an
        // interrupted test run sends, so that it outlives this process and
        // cleans up after it.
        let script = r#"trap '' INT TERM HUP; read _ignored; "$1/pg_ctl" -D "$2" -m immediate stop >/dev/null 2>&1; rm -rf "$3""#;
        let mut command = Self::as_user(user, "sh");
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .args(["-c", script, "cleanup"])
            .arg(bin)
            .arg(data)
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("the cleanup process");
        let stdin = child.stdin.take().expect("its input");
        (child, stdin)
    }

    fn as_user(user: Option<&str>, program: &str) -> Command {
        match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        if let Err(e) = self.try_run(tool, args) {
            panic!("{e}");
        }
    }

    fn try_run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(tool);
        let out = Self::as_user(self.user.as_deref(), &program.to_string_lossy())
            .args(args)
            .output()
            .map_err(|e| format!("{tool} could not start: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        ))
    }

    fn try_start(&self) -> Result<(), String> {
        let options = format!("-p {}", self.port);
        self.try_run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &self.log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Stops the server now, as a crash would (`immediate`).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server again after [`Server::stop`], on its port.
    pub fn start_again(&self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    /// The connection string of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// A client of database `db`, as the server's superuser.
    pub async fn store_client(&self, db: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(db), tokio_postgres::NoTls)
            .await
            .expect("a connection to the server");
        tokio::spawn(connection);
        client
    }

    /// A new, empty database, for one test: its connection string.
    pub async fn database(&self, name: &str) -> String {
        let client = self.store_client("postgres").await;
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client.batch_execute(&statement).await.expect("a new database");
        }
        self.url(name)
    }

    /// A new database with the schema, and a store of one program in it.
    pub async fn store(&self, name: &str) -> PgStore {
        let url = self.database(name).await;
        let pool = PgStore::connect_pool(&url, 20).expect("a pool");
        PgStore::migrate(&pool).await.expect("the schema");
        PgStore::open(pool, program("main")).await.expect("the store")
    }

    /// A new database with the schema, and a store of one program in it
    /// whose one connection goes through a [`proxy::Proxy`], which counts
    /// its round trips and can cut it.
    pub async fn proxied_store(&self, name: &str) -> (proxy::Proxy, PgStore) {
        let url = self.database(name).await;
        PgStore::migrate(&PgStore::connect_pool(&url, 1).expect("a pool"))
            .await
            .expect("the schema");
        let proxy = proxy::Proxy::start(self.port).await;
        let pool = PgStore::connect_pool(&proxy.url(name), 1).expect("a pool");
        let store = PgStore::open(pool, program("main")).await.expect("the store");
        (proxy, store)
    }
}

pub fn program(s: &str) -> ProgramId {
    s.parse().expect("a program id")
}
