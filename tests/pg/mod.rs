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
                eprintln!("skipped: no PostgreSQL server binaries (initdb, pg_ctl) on this machine");
                None
            }
        })
        .as_ref()
}

/// Returns from the test, saying it was skipped, when there is no server.
#[macro_export]
macro_rules! server_or_skip {
    () => {
        match $crate::pg::server() {
            Some(server) => server,
            None => {
                eprintln!("skipped: {}", module_path!());
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
        return has_tools(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            return Some(dir);
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
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
        let root = std::env::temp_dir().join(format!("attributor-pg-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&root).expect("a temporary folder");
        // initdb and the server refuse to run as root.
        let user = is_root().then(|| {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| ids_of(u).is_some())
                .expect("an unprivileged user (postgres or nobody) to run the server as");
            let (uid, gid) = ids_of(user).expect("the user's ids");
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .expect("the folder given to the server's user");
            user.to_owned()
        });
        let data = root.join("data");
        let log = root.join("server.log");
        let port = free_port();
        let server = Self {
            port,
            data: data.clone(),
            log: log.clone(),
            _cleanup: Mutex::new(Self::cleanup(&bin, user.as_deref(), &data, &root)),
            bin,
            user,
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
        writeln!(
            conf,
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 128MB\n",
            root.to_string_lossy()
        )
        .expect("server settings");
        server.start_server();
        server
    }

    /// A process that waits for this one to end (its input to close), then
    /// stops the server and removes its folder.
    fn cleanup(bin: &Path, user: Option<&str>, data: &Path, root: &Path) -> (Child, ChildStdin) {
        let script = r#"read _ignored; "$1/pg_ctl" -D "$2" -m immediate stop >/dev/null 2>&1; rm -rf "$3""#;
        let mut command = Self::as_user(user, "sh");
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
        let program = self.bin.join(tool);
        let out = Self::as_user(self.user.as_deref(), &program.to_string_lossy())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} could not start: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn start_server(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &self.log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
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

    /// Starts the server again after [`Server::stop`].
    pub fn start_again(&self) {
        self.start_server();
    }

    /// The connection string of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={db}", self.port)
    }

    /// A new, empty database, for one test: its connection string.
    pub async fn database(&self, name: &str) -> String {
        let (client, connection) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("a connection to the server");
        tokio::spawn(connection);
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
}

pub fn program(s: &str) -> ProgramId {
    s.parse().expect("a program id")
}
