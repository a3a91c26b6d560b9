"""Demo step: sync the lab's source collection into the destination collection, then a status-only run."""

ORDER = 30
TITLE = "collection sync"


def _sync_results(document):
    for play in document.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == "Run the collection syncs":
                for host, result in sorted(task["hosts"].items()):
                    yield host, result


def run(demo):
    lines = []
    document = demo.playbook("playbooks/collection_sync.yml", "-e", "wait=true", "-e", "wait_timeout=300")
    for host, result in _sync_results(document):
        for sync in result.get("syncs", []):
            task = sync.get("task") or {}
            lines.append("%s %s: %s -> %s%s: %s, %s of %s files copied, %s bytes%s" % (
                host, sync["name"], sync["source_path"], sync["destination_path"],
                " (created)" if sync.get("created_directories") else "", task.get("status", sync["action"]),
                task.get("files_transferred", 0), task.get("files", 0), task.get("bytes_transferred", 0),
                "; summary mailed to %s" % ", ".join(result["mail"]["to"]) if (result.get("mail") or {}).get("sent") else ""))
    status = demo.playbook("playbooks/collection_sync.yml", "-e", "start=false")
    for host, result in _sync_results(status):
        lines.append("%s status-only run (-e start=false): %d submitted, last task %s" % (
            host, len(result.get("submitted", [])),
            ", ".join("%s %s" % (s["name"], (s.get("task") or {}).get("status", "none")) for s in result.get("syncs", []))))
    demo.job("transfer1", "collection-sync-status")
    lines.append("transfer1 scheduled job collection-sync-status ran (start 12:00, status 19:00 in cron.d)")
    return lines
