//! Accepts an environment's connections and serves each with hyper's HTTP/1.1 server.
//!
//! A warm invoke makes two requests here (`/next` and `/response`), so they skip the router:
//! they are matched on method and path and go straight to their handlers. Every other request
//! goes through the shared router, which also knows those two routes (it answers their wrong
//! methods, for instance). HTTP/1.1 only: runtimes and extensions speak nothing else to the
//! Runtime API.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tower::Service;

use crate::endpoint::Endpoint;
use crate::routes;

const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const RESPONSE_SUFFIX: &str = "/response";

/// How long to wait before accepting again after `accept` failed (out of descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `endpoint` on `listener` until the returned task is aborted; aborting it also ends
/// every connection it accepted.
pub fn serve(listener: TcpListener, endpoint: Endpoint) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, endpoint.clone()));
                    }
                    Err(error) => {
                        tracing::debug!(%error, "runtime api accept failed");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn serve_connection(stream: TcpStream, endpoint: Endpoint) {
    // Without TCP_NODELAY every exchange waits for the peer's delayed ACK (~40 ms).
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| dispatch(request, endpoint.clone()));
    // A connection that breaks (the runtime died, say) only ends itself.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn dispatch(request: Request<Incoming>, endpoint: Endpoint) -> Result<Response, Infallible> {
    let (mut parts, body) = request.into_parts();
    let body = Body::new(body);
    match Route::of(&parts.method, parts.uri.path()) {
        Route::Next => Ok(routes::next_invocation(&endpoint).await),
        Route::Response(id) => {
            Ok(routes::invocation_response(&endpoint, id, &parts.headers, body).await)
        }
        Route::Router => {
            parts.extensions.insert(endpoint);
            let request = Request::from_parts(parts, body);
            routes::shared_router().clone().call(request).await
        }
    }
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `GET /runtime/invocation/next`.
    Next,
    /// `POST /runtime/invocation/{id}/response` with an id the router would pass on unchanged.
    Response(&'a str),
    /// Everything else.
    Router,
}

impl<'a> Route<'a> {
    fn of(method: &Method, path: &'a str) -> Self {
        if *method == Method::GET && path == NEXT_PATH {
            return Self::Next;
        }
        if *method == Method::POST
            && let Some(id) = path
                .strip_prefix(INVOCATION_PREFIX)
                .and_then(|rest| rest.strip_suffix(RESPONSE_SUFFIX))
            // An escaped id is left to the router, which decodes it.
            && !id.is_empty()
            && !id.contains(['/', '%'])
        {
            return Self::Response(id);
        }
        Self::Router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, path: &str, expected: Route<'_>) {
        assert_eq!(Route::of(&method, path), expected, "{method} {path}");
    }

    #[test]
    fn the_two_calls_of_every_invoke_skip_the_router() {
        check(Method::GET, NEXT_PATH, Route::Next);
        check(
            Method::POST,
            "/2018-06-01/runtime/invocation/8b1c-42/response",
            Route::Response("8b1c-42"),
        );
    }

    #[test]
    fn everything_else_goes_through_the_router() {
        check(Method::POST, NEXT_PATH, Route::Router);
        check(
            Method::GET,
            "/2018-06-01/runtime/invocation/8b1c/response",
            Route::Router,
        );
        check(
            Method::POST,
            "/2018-06-01/runtime/invocation//response",
            Route::Router,
        );
        check(
            Method::POST,
            "/2018-06-01/runtime/invocation/a/b/response",
            Route::Router,
        );
        check(
            Method::POST,
            "/2018-06-01/runtime/invocation/a%2Fb/response",
            Route::Router,
        );
        check(
            Method::POST,
            "/2018-06-01/runtime/invocation/8b1c/error",
            Route::Router,
        );
        check(
            Method::POST,
            "/2018-06-01/runtime/init/error",
            Route::Router,
        );
        check(
            Method::GET,
            "/2018-06-01/runtime/invocation/next/",
            Route::Router,
        );
        check(
            Method::POST,
            "/2020-01-01/extension/register",
            Route::Router,
        );
    }
}
