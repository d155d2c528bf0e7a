#!/usr/bin/env python3
"""Writes the man pages from the built programs themselves, so they never
disagree with them: medgw(8) from `medgw --help` and every `medgw COMMAND
--help`, medgw.yaml(5) from `medgw check-config --reference` (the config
table), medgw-receiver(8) from `medgw-receiver --help`.

  make-manpages.py MEDGW MEDGW_RECEIVER OUTDIR VERSION
"""
import gzip
import re
import subprocess
import sys
from pathlib import Path

DATE = "2026-11-30"


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    return result.stdout


def roff_escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n"))


def header(name: str, section: int, version: str, title: str) -> str:
    return (f'.TH {name.upper()} {section} "{DATE}" "medgw {version}" "{title}"\n'
            ".SH NAME\n")


def verbatim(text: str) -> str:
    return ".nf\n" + roff_escape(text.rstrip("\n")) + "\n.fi\n"


def medgw_page(medgw: str, version: str) -> str:
    overview = run(medgw, "--help")
    commands = []
    in_commands = False
    for line in overview.splitlines():
        if line.startswith("Commands:"):
            in_commands = True
            continue
        if in_commands:
            if not line.strip():
                break
            match = re.match(r"  (\S+(?: \S+)?)\s{2,}(.*)", line)
            if match:
                commands.append((match.group(1), match.group(2)))
    page = header("medgw", 8, version, "System Administration")
    page += "medgw \\- hospital gateway for SS\\-MIX2, DPC and UKE data (次世代医療基盤法)\n"
    page += ".SH SYNOPSIS\n.B medgw\n.I COMMAND\n[\\fIOPTIONS\\fR]\n"
    intro = overview.split("Commands:")[0].split("\n\n", 1)[1]
    page += ".SH DESCRIPTION\n" + roff_escape(" ".join(intro.split())) + "\n"
    page += ".SH COMMANDS\n"
    for name, _ in commands:
        words = name.split()
        text = run(medgw, *words, "--help")
        page += f".SS {roff_escape('medgw ' + name)}\n" + verbatim(text)
    page += (".SH FILES\n.TP\n.I /etc/medgw/medgw.yaml\nthe configuration, see \\fBmedgw.yaml\\fR(5)\n"
             ".TP\n.I /var/lib/medgw\nstate.db, the encrypted spool, the gateway's keys\n"
             ".SH SIGNALS\n.TP\n.B SIGHUP\nreload the configuration (a file with errors keeps the old one)\n"
             ".TP\n.B SIGTERM\nstop at a resumable point within 20 seconds\n"
             ".SH EXIT STATUS\n0 success, 1 runtime failure, 2 usage or configuration error.\n"
             ".SH SEE ALSO\n\\fBmedgw.yaml\\fR(5), \\fBmedgw\\-receiver\\fR(8), "
             "/usr/share/doc/medgw/operations.md\n")
    return page


def config_page(medgw: str, version: str) -> str:
    reference = run(medgw, "check-config", "--reference")
    page = header("medgw.yaml", 5, version, "File Formats")
    page += "medgw.yaml \\- configuration of the medgw gateway\n"
    page += (".SH DESCRIPTION\n/etc/medgw/medgw.yaml is YAML. Unknown keys are errors; sizes are written "
             "like 16MiB or 20GiB, durations like 30s, 10m or 1h. Check a file with "
             "\\fBmedgw check\\-config\\fR; reload the service with \\fBsystemctl reload medgw\\fR.\n")
    page += ".SH KEYS\n"
    for line in reference.splitlines():
        # The reference is Markdown: "| `key` | type | required | default | description |"
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\0", "|") for c in line.replace("\\|", "\0").strip().strip("|").split("|")]
        key, kind, default, description = (c.replace("`", "").replace("**", "") for c in cells[:4])
        page += (f".TP\n.B {roff_escape(key)}\n" +
                 roff_escape(f"{description} Type: {kind}; default: {default}.") + "\n")
    page += ".SH SEE ALSO\n\\fBmedgw\\fR(8), /usr/share/doc/medgw/config.md\n"
    return page


def receiver_page(receiver: str, version: str) -> str:
    text = run(receiver, "--help")
    page = header("medgw-receiver", 8, version, "System Administration")
    page += "medgw\\-receiver \\- the reference central collector for medgw gateways\n"
    page += ".SH SYNOPSIS\n.B medgw\\-receiver\n\\fB\\-c\\fR \\fIreceiver.yaml\\fR\n"
    page += ".SH DESCRIPTION\n" + verbatim(text)
    page += ".SH SEE ALSO\n\\fBmedgw\\fR(8)\n"
    return page


def write(out: Path, name: str, text: str):
    # gzip -n: no name or time stamp, so the package is reproducible.
    with open(out / f"{name}.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as zipped:
            zipped.write(text.encode("utf-8"))


def main() -> int:
    medgw, receiver, out, version = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    out.mkdir(parents=True, exist_ok=True)
    write(out, "medgw.8", medgw_page(medgw, version))
    write(out, "medgw.yaml.5", config_page(medgw, version))
    write(out, "medgw-receiver.8", receiver_page(receiver, version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
