//! `GET /metrics` (Prometheus text) and `GET /health`, for operators and tests.
//!
//! hyper's HTTP/1 server (already in the build for reqwest), one task per
//! connection; every path answers from memory, so no request body is read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::runtime::Runtime;

/// How long a client may take to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` and serves in the background.
pub async fn serve(addr: SocketAddr, runtime: Arc<Runtime>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for HTTP on {addr}: {e}")))?;
    tracing::info!(%addr, "serving /metrics");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let runtime = runtime.clone();
                    async move { Ok::<_, Infallible>(answer(&runtime, &request)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

fn answer(runtime: &Runtime, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            (StatusCode::OK, runtime.metrics.render() + &crate::metrics::render_outbox(&runtime.outbox))
        }
        (&Method::GET, "/health") => (StatusCode::OK, "ok\n".to_string()),
        (&Method::GET, _) => (StatusCode::NOT_FOUND, "not found\n".to_string()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, "text/plain; version=0.0.4".parse().expect("a valid header"));
    response
}
