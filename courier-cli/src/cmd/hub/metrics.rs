//! `courier hub --metrics`: the hub's metrics for Prometheus, over a minimal HTTP/1.1
//! responder. `GET /metrics` gets the text format (written by courier-core:
//! [`courier_core::hub::Metrics::to_prometheus`]); anything else a 404. One request per
//! connection, at most [`MAX_REQUEST`] bytes read within
//! [`endpoint::REQUEST_DEADLINE`], answered within [`DEADLINE`]; at most [`CAP`]
//! connections at once (one that has not asked yet gives way to a newcomer).

use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use courier_core::hub::{Metrics, Observer};
use futures::io::AsyncWriteExt;

use super::endpoint;

/// Connections answered at once (past it, the oldest that has not asked gives way).
const CAP: usize = 8;
/// The most a connection may take, from accept to the last byte of the answer.
const DEADLINE: Duration = Duration::from_secs(5);
/// The most bytes of a request (line and headers): a scraper sends a few hundred.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves `GET /metrics` on `listener` until dropped.
pub(super) async fn serve(listener: TcpListener, observer: Observer) {
    let request = endpoint::Request {
        end: b"\r\n\r\n",
        max: MAX_REQUEST,
    };
    endpoint::serve(listener, CAP, DEADLINE, request, |stream, head| {
        answer(stream, head, observer.clone())
    })
    .await;
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Metrics,
    Other,
}

/// Reads the request line: `GET /metrics` (a query string is ignored) or anything else.
fn asked(head: &[u8]) -> Asked {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_ascii_whitespace();
    let (method, target) = (parts.next(), parts.next());
    let path = target.map(|t| t.split('?').next().unwrap_or_default());
    match (method, path, parts.next()) {
        (Some("GET"), Some("/metrics"), Some(v)) if v.starts_with("HTTP/1.") => Asked::Metrics,
        _ => Asked::Other,
    }
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn answer(mut stream: TcpStream, head: Option<Vec<u8>>, observer: Observer) {
    let text = "text/plain; charset=utf-8";
    let reply = match head {
        None => response("400 Bad Request", text, "bad request\n"),
        Some(head) if asked(&head) == Asked::Other => {
            response("404 Not Found", text, "not found\n")
        }
        Some(_) => match observer.metrics().await {
            Some(metrics) => response("200 OK", Metrics::CONTENT_TYPE, &metrics.to_prometheus()),
            None => response("503 Service Unavailable", text, "the hub is stopping\n"),
        },
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_asked_for_metrics() {
        assert_eq!(asked(b"GET /metrics HTTP/1.1\r\nHost: x"), Asked::Metrics);
        assert_eq!(asked(b"GET /metrics?x=1 HTTP/1.0"), Asked::Metrics);
        assert_eq!(asked(b"GET / HTTP/1.1"), Asked::Other);
        assert_eq!(asked(b"POST /metrics HTTP/1.1"), Asked::Other);
        assert_eq!(asked(b"GET /metrics/x HTTP/1.1"), Asked::Other);
        assert_eq!(asked(b"GET /metrics"), Asked::Other);
        assert_eq!(asked(b"\xff\xfe"), Asked::Other);
    }
}
