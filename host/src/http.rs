//! `GET /metrics` (Prometheus text) and `GET /health`, for operators and tests.
//!
//! Hand-written on tokio: one plain GET per connection, no bodies read.
//! A web framework would add minutes of build for two fixed responses.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::runtime::Runtime;

/// The most a request head may take; anything longer is not ours.
const MAX_HEAD: usize = 8192;

/// Binds `addr` and serves in the background.
pub async fn serve(addr: SocketAddr, runtime: Arc<Runtime>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for HTTP on {addr}: {e}")))?;
    tracing::info!(%addr, "serving /metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let Some(request) = read_head(&mut stream).await else { return };
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/metrics" => {
                        ("200 OK", runtime.metrics.render() + &crate::metrics::render_outbox(&runtime.outbox))
                    }
                    "/health" => ("200 OK", "ok\n".to_string()),
                    _ => ("404 Not Found", "not found\n".to_string()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(())
}

/// Reads a request up to the blank line that ends its head.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}
