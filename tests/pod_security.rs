//! Every manifest under `deploy/k3s/` meets the Pod Security Standard
//! "restricted", and the namespace enforces it through Pod Security
//! Admission (enforce, audit and warn labels).
//!
//! The rules, from the standard (Kubernetes "Pod Security Standards",
//! baseline and restricted profiles), checked on every pod template
//! (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod) and on
//! each of its containers, init containers and ephemeral containers:
//! * no host namespaces (`hostNetwork`, `hostPID`, `hostIPC`), no
//!   `hostPath` volume, no host ports, not privileged, no Windows host
//!   process;
//! * `runAsNonRoot: true` (pod or every container), never `runAsUser: 0`;
//! * `allowPrivilegeEscalation: false` on every container;
//! * capabilities: `drop` includes `ALL`, `add` at most `NET_BIND_SERVICE`;
//! * seccomp `RuntimeDefault` or `Localhost` (pod or every container),
//!   never `Unconfined`;
//! * volumes only of the restricted types (configMap, csi, downwardAPI,
//!   emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret);
//! * AppArmor unset, `RuntimeDefault` or `Localhost`; SELinux without a user
//!   or role and only the container types; `procMount` Default; sysctls only
//!   from the safe set.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

fn k3s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k3s")
}

/// Every document of every YAML file under `deploy/k3s/`, with its file name.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k3s_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests under deploy/k3s");
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !v.is_null() {
                out.push((name.clone(), v));
            }
        }
    }
    out
}

/// The pod spec a workload stamps out, if it is one.
fn pod_spec(m: &Value) -> Option<&Value> {
    let pointer = match m.get("kind")?.as_str()? {
        "Pod" => "/spec",
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    };
    Some(
        m.pointer(pointer)
            .unwrap_or_else(|| panic!("a {} without {pointer}", m["kind"])),
    )
}

const RESTRICTED_VOLUME_TYPES: [&str; 9] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const SAFE_SYSCTLS: [&str; 8] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
];

const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn truthy(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool).unwrap_or(false)
}

fn seccomp_ok(ctx: Option<&Value>) -> Option<bool> {
    let t = ctx?.pointer("/seccompProfile/type")?.as_str()?;
    Some(matches!(t, "RuntimeDefault" | "Localhost"))
}

fn apparmor_ok(ctx: Option<&Value>) -> bool {
    match ctx.and_then(|c| c.pointer("/appArmorProfile/type")) {
        None => true,
        Some(t) => matches!(t.as_str(), Some("RuntimeDefault" | "Localhost")),
    }
}

fn selinux_problems(ctx: Option<&Value>, at: &str, out: &mut Vec<String>) {
    let Some(se) = ctx.and_then(|c| c.get("seLinuxOptions")) else {
        return;
    };
    if let Some(t) = se.get("type").and_then(Value::as_str) {
        if !t.is_empty() && !SELINUX_TYPES.contains(&t) {
            out.push(format!(
                "{at}: seLinuxOptions.type {t} is not a container type"
            ));
        }
    }
    for field in ["user", "role"] {
        if se
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            out.push(format!("{at}: seLinuxOptions.{field} must be unset"));
        }
    }
}

/// Every way `spec` breaks the restricted profile, each naming where.
fn restricted_violations(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let pod_ctx = spec.get("securityContext");

    for field in ["hostNetwork", "hostPID", "hostIPC", "hostUsers"] {
        // hostUsers: false is the safe value; only host namespaces count.
        if field != "hostUsers" && truthy(spec.get(field)) {
            out.push(format!("pod: {field} is true"));
        }
    }
    if truthy(pod_ctx.and_then(|c| c.pointer("/windowsOptions/hostProcess"))) {
        out.push("pod: windowsOptions.hostProcess is true".into());
    }
    if pod_ctx
        .and_then(|c| c.get("runAsUser"))
        .and_then(Value::as_u64)
        == Some(0)
    {
        out.push("pod: runAsUser is 0".into());
    }
    if pod_ctx
        .and_then(|c| c.pointer("/seccompProfile/type"))
        .and_then(Value::as_str)
        .is_some_and(|t| !matches!(t, "RuntimeDefault" | "Localhost"))
    {
        out.push("pod: seccompProfile is not RuntimeDefault or Localhost".into());
    }
    if !apparmor_ok(pod_ctx) {
        out.push("pod: appArmorProfile is not RuntimeDefault or Localhost".into());
    }
    selinux_problems(pod_ctx, "pod", &mut out);
    for s in pod_ctx
        .and_then(|c| c.get("sysctls"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!("pod: sysctl {name} is not in the safe set"));
        }
    }

    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("?");
        for key in v.as_object().unwrap().keys().filter(|k| *k != "name") {
            if !RESTRICTED_VOLUME_TYPES.contains(&key.as_str()) {
                out.push(format!("volume {name}: type {key} is not allowed"));
            }
        }
    }

    let pod_non_root = truthy(pod_ctx.and_then(|c| c.get("runAsNonRoot")));
    let pod_seccomp = seccomp_ok(pod_ctx) == Some(true);
    let mut containers = 0;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            containers += 1;
            let at = format!(
                "{list}[{}]",
                c.get("name").and_then(Value::as_str).unwrap_or("?")
            );
            let ctx = c.get("securityContext");
            if truthy(ctx.and_then(|c| c.get("privileged"))) {
                out.push(format!("{at}: privileged"));
            }
            if ctx
                .and_then(|c| c.get("allowPrivilegeEscalation"))
                .and_then(Value::as_bool)
                != Some(false)
            {
                out.push(format!("{at}: allowPrivilegeEscalation is not false"));
            }
            match ctx
                .and_then(|c| c.get("runAsNonRoot"))
                .and_then(Value::as_bool)
            {
                Some(false) => out.push(format!("{at}: runAsNonRoot is false")),
                None if !pod_non_root => out.push(format!("{at}: runAsNonRoot is not set")),
                _ => {}
            }
            if ctx.and_then(|c| c.get("runAsUser")).and_then(Value::as_u64) == Some(0) {
                out.push(format!("{at}: runAsUser is 0"));
            }
            match seccomp_ok(ctx) {
                Some(false) => out.push(format!(
                    "{at}: seccompProfile is not RuntimeDefault or Localhost"
                )),
                None if !pod_seccomp => out.push(format!("{at}: seccompProfile is not set")),
                _ => {}
            }
            if !apparmor_ok(ctx) {
                out.push(format!(
                    "{at}: appArmorProfile is not RuntimeDefault or Localhost"
                ));
            }
            selinux_problems(ctx, &at, &mut out);
            if truthy(ctx.and_then(|c| c.pointer("/windowsOptions/hostProcess"))) {
                out.push(format!("{at}: windowsOptions.hostProcess is true"));
            }
            if ctx
                .and_then(|c| c.get("procMount"))
                .and_then(Value::as_str)
                .is_some_and(|m| m != "Default")
            {
                out.push(format!("{at}: procMount is not Default"));
            }
            let caps = ctx.and_then(|c| c.get("capabilities"));
            let dropped: Vec<&str> = caps
                .and_then(|c| c.get("drop"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !dropped.contains(&"ALL") {
                out.push(format!("{at}: capabilities.drop does not include ALL"));
            }
            for added in caps
                .and_then(|c| c.get("add"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if added != "NET_BIND_SERVICE" {
                    out.push(format!("{at}: capabilities.add {added}"));
                }
            }
            for p in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if p.get("hostPort").and_then(Value::as_u64).unwrap_or(0) != 0 {
                    out.push(format!("{at}: hostPort {}", p["hostPort"]));
                }
            }
        }
    }
    if containers == 0 {
        out.push("pod: no containers".into());
    }
    out
}

#[test]
fn the_namespace_enforces_audits_and_warns_the_restricted_profile() {
    let all = manifests();
    let ns = all
        .iter()
        .map(|(_, m)| m)
        .find(|m| m["kind"] == "Namespace")
        .expect("a Namespace manifest");
    let labels = &ns["metadata"]["labels"];
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            labels[format!("pod-security.kubernetes.io/{mode}")],
            "restricted",
            "{mode} label"
        );
        let version = &labels[format!("pod-security.kubernetes.io/{mode}-version")];
        assert!(
            version.is_null() || version == "latest" || version.as_str().unwrap().starts_with('v'),
            "{mode}-version: {version}"
        );
    }
}

#[test]
fn every_namespaced_manifest_lives_in_the_restricted_namespace() {
    let all = manifests();
    let ns = all
        .iter()
        .find(|(_, m)| m["kind"] == "Namespace")
        .map(|(_, m)| m["metadata"]["name"].clone())
        .unwrap();
    for (file, m) in &all {
        if m["kind"] != "Namespace" {
            assert_eq!(m["metadata"]["namespace"], ns, "{file}: {}", m["kind"]);
        }
    }
}

#[test]
fn every_pod_template_meets_the_restricted_profile() {
    let mut pods = 0;
    for (file, m) in manifests() {
        if let Some(spec) = pod_spec(&m) {
            pods += 1;
            let v = restricted_violations(spec);
            assert!(
                v.is_empty(),
                "{file} ({} {}) breaks the restricted profile:\n  {}",
                m["kind"],
                m["metadata"]["name"],
                v.join("\n  ")
            );
        }
    }
    assert!(pods >= 1, "no pod template found under deploy/k3s");
}

#[test]
fn the_gateway_deployment_is_among_the_checked_pod_templates() {
    let all = manifests();
    assert!(all.iter().any(|(f, m)| f == "deployment.yaml"
        && m["kind"] == "Deployment"
        && pod_spec(m).is_some()));
}

/// The checker itself refuses each kind of breach (so a passing manifest
/// means something).
#[test]
fn the_rules_refuse_every_kind_of_breach() {
    let good = json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "c",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}
            }
        }],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "x"}}]
    });
    assert_eq!(restricted_violations(&good), Vec::<String>::new());

    let breaches: Vec<(&str, fn(&mut Value))> = vec![
        ("hostNetwork", |p| p["hostNetwork"] = json!(true)),
        ("hostPID", |p| p["hostPID"] = json!(true)),
        ("hostIPC", |p| p["hostIPC"] = json!(true)),
        ("hostPath", |p| {
            p["volumes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "h", "hostPath": {"path": "/"}}))
        }),
        ("nfs volume", |p| {
            p["volumes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "n", "nfs": {"server": "s", "path": "/"}}))
        }),
        ("hostPort", |p| {
            p["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 80}])
        }),
        ("privileged", |p| {
            p["containers"][0]["securityContext"]["privileged"] = json!(true)
        }),
        ("privilege escalation", |p| {
            p["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true)
        }),
        ("root", |p| {
            p["securityContext"]["runAsNonRoot"] = json!(false)
        }),
        ("uid 0", |p| {
            p["containers"][0]["securityContext"]["runAsUser"] = json!(0)
        }),
        ("unconfined seccomp", |p| {
            p["securityContext"]["seccompProfile"]["type"] = json!("Unconfined")
        }),
        ("no seccomp", |p| {
            p["securityContext"]
                .as_object_mut()
                .unwrap()
                .remove("seccompProfile");
        }),
        ("capability kept", |p| {
            p["containers"][0]["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"])
        }),
        ("capability added", |p| {
            p["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"])
        }),
        ("an init container without a context", |p| {
            p["initContainers"] = json!([{"name": "init"}])
        }),
        ("unsafe sysctl", |p| {
            p["securityContext"]["sysctls"] = json!([{"name": "kernel.msgmax", "value": "1"}])
        }),
        ("procMount", |p| {
            p["containers"][0]["securityContext"]["procMount"] = json!("Unmasked")
        }),
        ("SELinux user", |p| {
            p["securityContext"]["seLinuxOptions"] = json!({"user": "system_u"})
        }),
    ];
    for (what, breach) in breaches {
        let mut bad = good.clone();
        breach(&mut bad);
        assert!(
            !restricted_violations(&bad).is_empty(),
            "{what} passed the restricted rules"
        );
    }
}
