//! What every server binary of this crate shares: the address from the command line, the
//! listener, and the one-thread runtime (the same settings as wsmachine's servers under test).

use std::future::Future;

/// Runs `serve(listener)` on a current-thread tokio runtime, listening on the address given as
/// the first argument (default 127.0.0.1:9100); prints `listening on ADDR` once bound.
pub fn run<F, Fut>(serve: F)
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: Future<Output = ()>,
{
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9100".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bind {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!("listening on {addr}");
        serve(listener).await
    });
}
