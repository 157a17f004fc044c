//! The deployment files say what the daemon needs: the k3s manifests probe
//! the right paths on the admin port, run one gateway per site with its
//! journal on a volume one node attaches, run
//! locked down, and ship a site file that passes `check-config`; the systemd
//! unit is `Type=notify` with a watchdog and its hardening.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo(rel)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `v` at the JSON pointer `p`, which must exist.
fn at<'a>(v: &'a Value, p: &str) -> &'a Value {
    v.pointer(p).unwrap_or_else(|| panic!("{p} missing"))
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    at(v, p)
        .as_str()
        .unwrap_or_else(|| panic!("{p} is not a string"))
}

fn deployment() -> Value {
    let d = yaml("deploy/k3s/deployment.yaml");
    assert_eq!(str_at(&d, "/kind"), "Deployment");
    d
}

fn container(d: &Value) -> &Value {
    at(d, "/spec/template/spec/containers")
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "floorgate")
        .expect("a container named floorgate")
}

fn port_named(c: &Value, name: &str) -> u64 {
    c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port {name}"))
}

fn env_of<'a>(c: &'a Value, name: &str) -> &'a str {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn the_deployment_probes_healthz_and_readyz_on_the_admin_port_it_listens_on() {
    let d = deployment();
    let c = container(&d);
    assert_eq!(str_at(c, "/livenessProbe/httpGet/path"), "/healthz");
    assert_eq!(str_at(c, "/readinessProbe/httpGet/path"), "/readyz");
    assert_eq!(str_at(c, "/livenessProbe/httpGet/port"), "admin");
    assert_eq!(str_at(c, "/readinessProbe/httpGet/port"), "admin");
    let admin = port_named(c, "admin");
    let listen = env_of(c, "FLOORGATE_ADMIN_LISTEN");
    assert_eq!(
        listen,
        format!("0.0.0.0:{admin}"),
        "probes reach the pod IP"
    );
    let grpc = port_named(c, "grpc");
    assert_eq!(
        env_of(c, "FLOORGATE_GRPC_LISTEN"),
        format!("0.0.0.0:{grpc}")
    );

    let s = yaml("deploy/k3s/service.yaml");
    let sp = &at(&s, "/spec/ports").as_array().unwrap()[0];
    assert_eq!(sp["targetPort"], "grpc");
    assert_eq!(
        at(&s, "/spec/selector"),
        at(&d, "/spec/template/metadata/labels")
    );
}

#[test]
fn one_gateway_per_site_on_a_journal_volume_only_one_node_attaches() {
    let d = deployment();
    let c = container(&d);
    // Never two masters: one replica, and the old pod is gone before the
    // new one starts.
    assert_eq!(at(&d, "/spec/replicas"), 1);
    assert_eq!(str_at(&d, "/spec/strategy/type"), "Recreate");
    let data_dir = env_of(c, "FLOORGATE_DATA_DIR");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == data_dir)
        .expect("a volume mounted at FLOORGATE_DATA_DIR");
    assert_ne!(mount["readOnly"], true);
    let volume = at(&d, "/spec/template/spec/volumes")
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let claim = str_at(volume, "/persistentVolumeClaim/claimName");
    let pvc = yaml("deploy/k3s/persistentvolumeclaim.yaml");
    assert_eq!(str_at(&pvc, "/kind"), "PersistentVolumeClaim");
    assert_eq!(str_at(&pvc, "/metadata/name"), claim);
    let modes = at(&pvc, "/spec/accessModes").as_array().unwrap();
    assert!(
        modes
            .iter()
            .all(|m| m == "ReadWriteOnce" || m == "ReadWriteOncePod"),
        "one node at a time: {modes:?}"
    );
    assert_eq!(
        str_at(&d, "/spec/template/spec/nodeSelector/floorgate.io~1edge"),
        "true"
    );
    // No manifest of the directory starts a gateway per node.
    for entry in std::fs::read_dir(repo("deploy/k3s")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !text.contains("kind: DaemonSet"),
            "a DaemonSet would start one master per node"
        );
    }
}

#[test]
fn the_container_runs_the_image_as_non_root_on_a_read_only_root() {
    let d = deployment();
    let c = container(&d);
    assert!(str_at(c, "/image").contains("/floorgate:"));
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(c["resources"]["limits"]["memory"].is_string());
    // The image's default user is the one the pod runs as.
    let dockerfile = std::fs::read_to_string(repo("Dockerfile.arm64")).unwrap();
    let uid = at(&d, "/spec/template/spec/securityContext/runAsUser");
    assert!(dockerfile.contains(&format!("USER {uid}:")), "USER {uid}");
    // One malloc arena, as the systemd unit (BENCHMARKS.md § 3).
    assert!(
        dockerfile.contains("MALLOC_ARENA_MAX=1"),
        "MALLOC_ARENA_MAX"
    );
}

#[test]
fn the_configmap_site_file_passes_check_config() {
    let cm = yaml("deploy/k3s/configmap.yaml");
    let data = at(&cm, "/data").as_object().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in data {
        std::fs::write(dir.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let site = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&site).unwrap();
    // The Secret's files exist only in the pod: point the TLS paths at
    // copies of the Secret's entries.
    let secret = yaml("deploy/k3s/secret.yaml");
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        let pem = at(&secret, &format!("/stringData/{}", key.replace('/', "~1")));
        std::fs::write(dir.path().join(key), pem.as_str().unwrap()).unwrap();
    }
    let mqtt_ca = rcgen::generate_simple_self_signed(vec!["mqtt.site.local".into()]).unwrap();
    std::fs::write(dir.path().join("mqtt-ca.pem"), mqtt_ca.cert.pem()).unwrap();
    let tls = |k: &str| Some(dir.path().join(k).to_string_lossy().to_string());
    let cfg = floorgate::config::load_str(&site, &text, &|var| match var {
        "FLOORGATE_GRPC_TLS_CERT" => tls("tls.crt"),
        "FLOORGATE_GRPC_TLS_KEY" => tls("tls.key"),
        "FLOORGATE_GRPC_TLS_CLIENT_CA" => tls("ca.crt"),
        // check-config parses the broker's CA: a real certificate stands in for the
        // Secret's placeholder.
        "FLOORGATE_MQTT_TLS_CA" => tls("mqtt-ca.pem"),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("deploy/k3s/configmap.yaml site.toml:\n{e}"));
    assert!(
        text.contains("client_ca_file = \"/etc/floorgate-tls/ca.crt\""),
        "the pod serves gRPC with mutual TLS from the mounted Secret"
    );
    let d = deployment();
    assert_eq!(
        cfg.gateway.data_dir.to_str().unwrap(),
        env_of(container(&d), "FLOORGATE_DATA_DIR")
    );
    assert_eq!(
        cfg.gateway.admin_listen.map(|a| a.port() as u64),
        Some(port_named(container(&d), "admin"))
    );
}

#[test]
fn the_tls_secret_carries_a_ca_and_a_key_pair() {
    let s = yaml("deploy/k3s/secret.yaml");
    assert_eq!(str_at(&s, "/kind"), "Secret");
    for k in ["tls.crt", "tls.key", "ca.crt", "mqtt-ca.crt"] {
        assert!(at(&s, "/stringData").get(k).is_some(), "{k}");
    }
}

#[test]
fn the_systemd_unit_is_type_notify_with_a_watchdog_and_hardening() {
    let unit = std::fs::read_to_string(repo("systemd/floorgate.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for want in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=floorgate",
        "Environment=FLOORGATE_DATA_DIR=%S/floorgate",
        "Environment=MALLOC_ARENA_MAX=1",
        "ExecStartPre=/usr/bin/floorgate check-config /etc/floorgate/site.toml",
        "ExecStart=/usr/bin/floorgate run --config /etc/floorgate/site.toml",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "UMask=0077",
    ] {
        assert!(
            lines.contains(&want),
            "systemd/floorgate.service lacks {want:?}"
        );
    }
}
