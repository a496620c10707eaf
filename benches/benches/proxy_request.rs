//! One request over a kept-alive HTTP/1.1 connection: straight to a backend, and
//! through Switchyard (one worker, `least-request` as a WebAssembly component).

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use switchyard::app::App;
use switchyard_policy::PolicyEngine;

async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn exchange(send: &mut SendRequest<Empty<Bytes>>) {
    let request = http::Request::get("/")
        .header("host", "bench")
        .body(Empty::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

fn request(c: &mut Criterion) {
    let (_backend_runtime, backend) = switchyard_benches::backend();
    let text = format!(
        "workers = 1\n[[listeners]]\nname = \"web\"\nlisten = \"127.0.0.1:0\"\ncluster = \"app\"\n\
         [[clusters]]\nname = \"app\"\npolicy = \"least-request\"\nendpoints = [{{ address = \"{backend}\" }}]\n"
    );
    let config = switchyard::config::parse("bench", &text).unwrap();
    let engine = PolicyEngine::new().unwrap();
    let proxy = App::start(&config, &engine).unwrap();
    let proxied = proxy.listener_addr("web").unwrap();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("request");
    for (name, addr) in [("direct", backend), ("switchyard", proxied)] {
        let mut send = client.block_on(connect(addr));
        group.bench_function(name, |b| b.iter(|| client.block_on(exchange(&mut send))));
    }
    group.finish();
    proxy.shutdown();
}

criterion_group!(benches, request);
criterion_main!(benches);
