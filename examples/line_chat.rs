//! # A bot with its own chat: plugins behind a line protocol on TCP
//!
//! A program embedding the whole stack (NATS, the supervised plugins, hot reload) behind a
//! chat of its own: each line a client sends to a TCP port is `user: text`, and every line
//! the bot says goes to every client. The chat is a [`Connector`] of ~25 lines; the stack is
//! [`Stack::builder`] with that connector, the rest defaults. This program is also its own
//! plugin host: the stack runs it as `line_chat plugin-host serve`, which [`rosey_host::run`]
//! serves. It installs the plugin archives it is given, asks `!roll 1d1` as alice, prints the
//! answer and stops (exit 1 if no answer came).
//!
//! ```text
//! rosey plugin pack plugins/dice-roller --out target/example-plugins
//! ROSEY_NATS_SERVER=$PWD/.tools/nats/bin/nats-server \
//!   cargo run -p rosey-examples --example line_chat -- target/example-plugins/dice-roller-*.roseyplug
//! ```

use std::{process::ExitCode, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use rosey_actors::stack::{HostProgram, Stack, StartCheck};
use rosey_core::connector::{
    Connector, ConnectorError, Incoming, IncomingQueue, IncomingReceiver, Outgoing,
};
use rosey_core::{install, messaging, paths::Home};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::{net::TcpListener, sync::broadcast};

/// The stack's settings: a free NATS port, no warm spare hosts (one plugin, one run).
const CONFIG: &str = "nats: { port: 0 }\nplugin_host: { spares: 0 }\n";

/// The chat: what clients send is heard; what the bot says is broadcast to them.
struct LineChat {
    heard: IncomingQueue,
    said: broadcast::Sender<String>,
}

impl Connector for LineChat {
    fn name(&self) -> &str {
        "lines"
    }
    fn incoming(&self) -> Result<IncomingReceiver, ConnectorError> {
        self.heard.take()
    }
    fn send(&self, out: Outgoing) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let _ = self.said.send(out.text().to_owned());
        Box::pin(async { Ok(()) })
    }
    fn close(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.heard.close();
        Box::pin(async { Ok(()) })
    }
}

/// Serves one client: its lines in, the bot's lines out.
async fn serve(chat: Arc<LineChat>, socket: tokio::net::TcpStream, id: u64) {
    let (reader, mut writer) = socket.into_split();
    let mut said = chat.said.subscribe();
    tokio::spawn(async move {
        while let Ok(line) = said.recv().await {
            let _ = writer.write_all(format!("{line}\n").as_bytes()).await;
        }
    });
    let mut lines = BufReader::new(reader).lines();
    let mut n = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        n += 1;
        let (user, text) = line.split_once(": ").unwrap_or(("guest", &line));
        let (source, now) = (messaging::Source::Chat, messaging::now_ms());
        let heard = Incoming::new(source, user.into(), text.into(), now, format!("{id}-{n}"));
        let _ = chat.heard.push(heard);
    }
}

async fn run(archives: &[String]) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let home = Home::new(dir.path());
    std::fs::write(home.config_file(), CONFIG)?;
    for archive in archives {
        install::install(&home, archive.as_ref(), &|_| Ok(()))?;
    }
    let (said, _) = broadcast::channel(64);
    let chat = Arc::new(LineChat {
        heard: IncomingQueue::new("lines"),
        said,
    });
    let port = TcpListener::bind("127.0.0.1:0").await?;
    let address = port.local_addr()?;
    let (stack, _done) = Stack::builder(home)
        .connector(chat.clone())
        .host_program(HostProgram::this_program("plugin-host")?)
        .start()
        .await?;
    // The tree returns once each unit started or failed its first start: ask what runs.
    if !matches!(
        stack.check_started().await,
        StartCheck::AllUp | StartCheck::PluginsDown(_)
    ) {
        return Err("a service of the stack did not start (its log says why)".into());
    }
    tokio::spawn(async move {
        for id in 0.. {
            let Ok((socket, _)) = port.accept().await else {
                return;
            };
            tokio::spawn(serve(chat.clone(), socket, id));
        }
    });
    // A client of the chat.
    let (reader, mut writer) = tokio::net::TcpStream::connect(address).await?.into_split();
    writer.write_all(b"alice: !roll 1d1\n").await?;
    let mut lines = BufReader::new(reader).lines();
    let answer = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    stack.shutdown(Duration::from_secs(30)).await?;
    Ok(answer
        .map_err(|_| "no answer within 20 s")??
        .ok_or("the chat closed")?)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("plugin-host") {
        return rosey_host::exit_codes::exit_code(rosey_host::run(&args[1..]));
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(answer) => println!("the bot answered alice: {answer}"),
        Err(err) => {
            eprintln!("line_chat example failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
