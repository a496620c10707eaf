//! gRPC through the proxy: a tonic client calls a tonic server (grpc.health.v1) —
//! unary, server-streaming and an error status — and sees what it sees direct.

use crate::common;

use common::{config, proxy};
use std::net::SocketAddr;
use std::time::Duration;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response};

const SERVICE: &str = "switchyard.test.Echo";

async fn client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

/// What a client observes from unary calls: statuses, or error code and message.
async fn unary_outcomes(client: &mut HealthClient<Channel>) -> Vec<Result<i32, (Code, String)>> {
    let mut outcomes = Vec::new();
    for service in [SERVICE, "", "no.such.Service"] {
        outcomes.push(match client.check(request(service)).await {
            Ok(response) => Ok(response.into_inner().status),
            Err(status) => Err((status.code(), status.message().to_string())),
        });
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_streaming_and_errors_match_direct() {
    let (server, reporter) = common::backend::grpc_health(SERVICE).await;
    let proxy = proxy(&config("least-request", &[(server, 1)], ""));
    let via_proxy = proxy.listener_addr("web").unwrap();
    let mut proxied = client(via_proxy).await;
    calls_match_direct(server, &mut proxied, &reporter).await;
    let picks = proxy.upstream("api").unwrap().policy().stats().picks;
    assert!(picks >= 4, "every call went through the policy ({picks})");
    common::stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_matches_direct() {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let dir = common::temp_dir("grpc-tls");
    let ca = common::certs::Ca::new(&dir, "test");
    let leaf = ca.leaf(&dir, "server", "server", &["grpc.test"]);
    let (server, reporter) = common::backend::grpc_health(SERVICE).await;
    let tls = format!("cert = {:?}\nkey = {:?}", leaf.cert, leaf.key);
    let proxy = proxy(&crate::tls::tls_config(server, &tls, ""));
    let addr = proxy.listener_addr("edge").unwrap();
    let pem = std::fs::read_to_string(&ca.file).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem))
        .domain_name("grpc.test");
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut proxied = HealthClient::new(channel);
    calls_match_direct(server, &mut proxied, &reporter).await;
    common::stop(proxy).await;
}

/// Unary calls through `proxied` answer as they do direct to `server`, an error status
/// included; a server stream delivers a change made after it started.
async fn calls_match_direct(
    server: SocketAddr,
    proxied: &mut HealthClient<Channel>,
    reporter: &tonic_health::server::HealthReporter,
) {
    let mut direct = client(server).await;
    let expected = unary_outcomes(&mut direct).await;
    assert_eq!(
        expected[0],
        Ok(health_check_response::ServingStatus::Serving as i32)
    );
    assert!(
        matches!(&expected[2], Err((Code::NotFound, _))),
        "{expected:?}"
    );
    assert_eq!(
        unary_outcomes(proxied).await,
        expected,
        "same results and statuses"
    );
    let mut stream = proxied.watch(request(SERVICE)).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(
        first.status,
        health_check_response::ServingStatus::Serving as i32
    );
    reporter
        .set_service_status(SERVICE, ServingStatus::NotServing)
        .await;
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a streamed message arrives")
        .unwrap()
        .unwrap();
    assert_eq!(
        next.status,
        health_check_response::ServingStatus::NotServing as i32
    );
}
