"""Cross-checks Cluster/kubernetes beyond what a schema can: the pieces must fit each other.

    python check-manifests.py coordinator.yaml worker.yaml secrets.yaml

Schema validation is kubernetes-validate's job (the test runs both). Here: selectors match their pod
labels; the workers connect to the coordinator Service's farm port; every Secret a pod mounts exists
and holds every key it projects; the key paths in the containers' arguments are files those mounts
provide; probes name declared ports; the coordinator cannot run twice on its journal. Prints one line
per problem and exits 1 if there are any.
"""
import sys
import yaml

docs = [d for path in sys.argv[1:] for d in yaml.safe_load_all(open(path)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
problems = []


def need(ok, message):
    if not ok:
        problems.append(message)


def mounted_files(pod, container):
    """Absolute paths of the files the container sees from Secret volumes."""
    files = set()
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"])
        need(v is not None, f"{container['name']}: mounts unknown volume {m['name']}")
        if v and "secret" in v:
            name = v["secret"]["secretName"]
            secret = by_kind.get("Secret", {}).get(name)
            need(secret is not None, f"{container['name']}: Secret {name} is not defined")
            for item in v["secret"].get("items", []):
                if secret is not None:
                    need(item["key"] in secret.get("data", {}), f"Secret {name} lacks key {item['key']}")
                files.add(m["mountPath"].rstrip("/") + "/" + item["path"])
        if v and "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            need(claim in by_kind.get("PersistentVolumeClaim", {}), f"PVC {claim} is not defined")
    return files


deployments = by_kind.get("Deployment", {})
services = by_kind.get("Service", {})
need("stylefarm-coordinator" in deployments and "stylefarm-worker" in deployments, "need both Deployments")
for name, d in deployments.items():
    spec = d["spec"]
    labels = spec["template"]["metadata"]["labels"]
    need(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
         f"{name}: selector does not match its pod labels")
    pod = spec["template"]["spec"]
    for c in pod["containers"]:
        files = mounted_files(pod, c)
        args = dict(a[2:].split("=", 1) for a in c["args"][1:] if a.startswith("--") and "=" in a)
        for flag in ("curve-secret", "server-key"):
            if flag in args:
                need(args[flag] in files, f"{name}: --{flag} {args[flag]} is not a mounted key file")
        for flag in ("allow-workers", "allow-clients", "allow-admins"):
            if flag in args:
                need(any(f.startswith(args[flag].rstrip("/") + "/") and f.endswith(".pub") for f in files),
                     f"{name}: --{flag} {args[flag]} holds no mounted .pub")
        if args.get("dashboard", "").startswith("0.0.0.0"):
            need(args.get("dashboard-token-file") in files, f"{name}: a dashboard on 0.0.0.0 needs --dashboard-token-file from a mounted Secret")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in c and "httpGet" in c[probe]:
                need(c[probe]["httpGet"]["path"] == "/healthz", f"{name}: {probe} must use /healthz (the only route without a token)")
        need(pod.get("automountServiceAccountToken") is False, f"{name}: mounts a service-account token it never uses")
        need(pod.get("securityContext", {}).get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no seccomp profile")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in c and "httpGet" in c[probe]:
                port = c[probe]["httpGet"]["port"]
                need(port in ports or isinstance(port, int), f"{name}: {probe} names undeclared port {port}")
        if c["args"][0] == "coordinator":
            need(spec["replicas"] == 1 and spec.get("strategy", {}).get("type") == "Recreate",
                 f"{name}: a coordinator must be one replica, replaced with Recreate (one journal)")
            need(args.get("bind", "").endswith(":5555") and ports.get("farm") == 5555, f"{name}: binds {args.get('bind')}")
        if c["args"][0] == "worker":
            host, port = args["connect"].removeprefix("tcp://").rsplit(":", 1)
            svc = services.get(host)
            need(svc is not None, f"{name}: connects to {host}, which is no Service")
            if svc:
                need(any(p["port"] == int(port) for p in svc["spec"]["ports"]), f"{name}: Service {host} has no port {port}")
                coordinator_labels = deployments["stylefarm-coordinator"]["spec"]["template"]["metadata"]["labels"]
                need(all(coordinator_labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
                     f"Service {host} does not select the coordinator's pods")

for p in problems:
    print("PROBLEM", p)
print(f"checked {len(docs)} resources: {len(problems)} problems")
sys.exit(1 if problems else 0)
