// The table of medgw commands: names, options, help texts and handlers.
#include <daemon/cli/commands.hpp>

#include <array>

namespace medgw::daemon {
namespace {

constexpr OptionSpec config_option{"config", 'c', "FILE", "configuration file (default /etc/medgw/medgw.yaml)"};

constexpr std::array run_options{config_option};
constexpr std::array check_config_options{
    config_option,
    OptionSpec{"strict", 0, "", "also fail (exit 2) on warnings about this machine: missing folders or files, "
                                "a private key readable by others"},
    OptionSpec{"reference", 0, "", "print the reference of every key (Markdown, as docs/config.md) and exit"},
};
constexpr std::array once_options{
    config_option,
    OptionSpec{"once", 0, "", "one pass, then exit (required: the daemon does the continuous work)"},
};
constexpr std::array collect_options{
    config_option,
    OptionSpec{"once", 0, "", "one pass, then exit (required: the daemon does the continuous work)"},
    OptionSpec{"accept-deletions", 0, "",
               "send the deletions medgw withheld because most of a source vanished at once or its folder was "
               "empty (use only after checking that the files were really removed, not a share unmounted)"},
};
constexpr std::array status_options{
    config_option,
    OptionSpec{"json", 0, "", "print JSON (the same document as the status server's /status)"},
};
constexpr std::array keys_generate_options{
    config_option,
    OptionSpec{"output", 'o', "FILE", "where to write the new identity (created with mode 0600; never overwritten)"},
};
constexpr std::array export_media_options{
    config_option,
    OptionSpec{"out", 0, "PATH", "where to write: an .iso or .zip file, or a folder for --format dir (must not exist or "
                                 "be empty, unless --force)"},
    OptionSpec{"format", 0, "iso|zip|dir", "ISO 9660 image (Rock Ridge + long Joliet names), zip, or a plain folder "
                                           "for a USB stick (default: from the --out name, .iso/.zip, else dir)"},
    OptionSpec{"from", 0, "sources|backup", "read the live sources (default) or a backup snapshot"},
    OptionSpec{"identity", 0, "FILE", "the backup's recovery identity (with --from backup)"},
    OptionSpec{"snapshot", 0, "ID", "the backup snapshot to read (with --from backup; default the latest)"},
    OptionSpec{"patients", 0, "FILE", "only the patient IDs listed in FILE, one per line (default all)"},
    OptionSpec{"since", 0, "DATE", "leave out data dated before DATE (YYYY-MM-DD); undated data (basics, allergies, "
                                   "diagnoses) is always kept"},
    OptionSpec{"passphrase-file", 0, "FILE", "the passphrase (first line, 12 characters or more; mode 0600) that "
                                             "encrypts the media; without it, one is generated and shown on a terminal"},
    OptionSpec{"no-encrypt", 0, "", "write everything in clear, names and contents (said in README.TXT; the output is "
                                    "mode 0600): only for media that never leave the hospital's control"},
    OptionSpec{"title", 0, "TEXT", "the title shown by the viewer and in README.TXT (default facility.name)"},
    OptionSpec{"force", 0, "", "replace an earlier medgw media at --out (a file, or a folder holding MANIFEST.JSON)"},
    OptionSpec{"verify", 0, "PATH", "check a medium instead: every file against MANIFEST.JSON and its signature"},
    OptionSpec{"signer", 0, "KEY", "with --verify: require this signing key (ed25519:..., the gateway's; default: "
                                   "the key of this gateway's state_dir when there is one)"},
};
constexpr std::array plain_options{config_option};
constexpr std::array notice_report_options{
    config_option,
    OptionSpec{"output", 'o', "FILE", "where to write the report (CSV, UTF-8; created with mode 0600; required)"},
    OptionSpec{"month", 0, "YYYY-MM", "only patients who became eligible, and opt-outs requested, in this month "
                                      "(held patients are always listed)"},
};
constexpr OptionSpec repository_option{"repository", 0, "DIR",
                                       "the backup repository's folder (default backup.repository of the config; "
                                       "with it, no config is read: for another machine)"};
constexpr std::array backup_list_options{config_option, repository_option};
constexpr std::array backup_verify_options{
    config_option,
    OptionSpec{"identity", 'i', "FILE", "the recovery identity: also decrypt every pack and snapshot and check every "
                                        "blob (without it only the clear parts are checked)", true},
    OptionSpec{"read-data", 0, "PERCENT", "read (hash, and with --identity decrypt) the data of only a random "
                                          "PERCENT of the packs, at least one; the others are checked present "
                                          "with their size (default 100: every pack)"},
    repository_option,
};
constexpr std::array backup_forget_options{
    config_option,
    OptionSpec{"keep-daily", 0, "N", "keep the newest snapshot of each of the last N days that have snapshots (UTC)"},
    OptionSpec{"keep-monthly", 0, "N", "keep the newest snapshot of each of the last N months that have snapshots"},
    OptionSpec{"dry-run", 0, "", "say what would be forgotten and removed, remove nothing"},
    repository_option,
};
constexpr std::array backup_restore_options{
    config_option,
    OptionSpec{"identity", 'i', "FILE", "the recovery identity (AGE-SECRET-KEY-1..., mode 0600) - never kept on "
                                        "the gateway", true},
    OptionSpec{"snapshot", 0, "ID", "the snapshot: an id from medgw backup list (or its start), or latest (default)"},
    OptionSpec{"path", 0, "PREFIX", "only files under PREFIX, given as <source label>/<path>, e.g. ssmix2/000/"},
    OptionSpec{"patient", 0, "ID", "only this patient's files (SS-MIX2 standardized and extended storage)"},
    OptionSpec{"target", 0, "DIR", "the folder to restore into (created; must be empty unless --force); files go "
                                   "to DIR/<source label>/<path>"},
    OptionSpec{"force", 0, "", "restore into a non-empty folder, replacing files of the same name"},
    repository_option,
};
constexpr std::array encrypt_options{
    config_option,
    OptionSpec{"recipient", 'r', "RECIPIENT", "encrypt to this age recipient (age1...); repeat for several", true},
    OptionSpec{"recipients-file", 'R', "FILE", "encrypt to every recipient listed in FILE, one per line", true},
    OptionSpec{"passphrase-file", 0, "FILE", "encrypt with the passphrase in FILE (scrypt) instead of recipients"},
    OptionSpec{"output", 'o', "OUT", "write here (default standard output)"},
};
constexpr std::array decrypt_options{
    config_option,
    OptionSpec{"identity", 'i', "FILE", "age identity file (AGE-SECRET-KEY-1...); repeat for several", true},
    OptionSpec{"passphrase-file", 0, "FILE", "decrypt a passphrase-encrypted file with the passphrase in FILE"},
    OptionSpec{"output", 'o', "OUT", "write here (default standard output); written only once fully verified"},
};

constexpr std::array enroll_options{
    config_option,
    OptionSpec{"ticket-file", 0, "FILE", "the enrollment ticket from the central (medgw-receiver ticket): its facility "
                                         "must be facility.code"},
    OptionSpec{"force", 0, "", "replace central.cert and central.key even while the certificate is still valid"},
};
constexpr std::array doctor_options{
    config_option,
    OptionSpec{"json", 0, "", "print JSON (the document a support bundle carries as doctor.json)"},
};
constexpr std::array diag_options{
    config_option,
    OptionSpec{"output", 'o', "FILE", "where to write the bundle (created with mode 0600; default "
                                      "medgw-diag-FACILITY-TIME.tar.zst.age in the current folder)"},
    OptionSpec{"review", 0, "", "write the bundle in clear (tar.zst) for the hospital to read before it is sent"},
    OptionSpec{"since", 0, "DURATION", "how far back the log goes (default 24h)"},
};

constexpr std::array command_table{
    CommandSpec{"run", "", 0, 0, "Run the gateway daemon in the foreground.",
                "Collects from every configured source, spools encrypted objects and uploads them. Meant to run "
                "under systemd (Type=notify): it reports READY=1 once the sources, spool and status server are "
                "up. SIGHUP reloads the configuration; SIGTERM stops gracefully.",
                "medgw run -c /etc/medgw/medgw.yaml\nsystemctl start medgw", run_options, command_run},
    CommandSpec{"check-config", "", 0, 0, "Validate the configuration file.",
                "Reports every problem at once as FILE:LINE:COL: message and exits 2 if there is any error. "
                "Problems of this machine (a folder or certificate that is missing, a private key readable by "
                "others) are warnings unless --strict is given.",
                "medgw check-config\nmedgw check-config -c ./medgw.yaml --strict\nmedgw check-config --reference > config.md",
                check_config_options, command_check_config},
    CommandSpec{"enroll", "", 0, 0, "Get this gateway's client certificate from the central with a one-time ticket.",
                "Makes a new EC P-256 key, sends a certificate request for CN=facility.code to the central's EST "
                "service (POST /.well-known/est/simpleenroll at the origin of central.url, HTTP Basic with the "
                "ticket, the central's certificate checked against central.ca, no client certificate), checks the "
                "answer (the certificate is for the new key and facility.code, and chains to the CA the central "
                "returned), then writes the key to central.key (mode 0600) and the certificate with its CA chain to "
                "central.cert; a crash at any point leaves a matching pair. The ticket is never logged or shown. A "
                "certificate in central.cert that is still valid is kept unless --force. After that, `medgw run` "
                "renews the certificate by itself (central.renew_at); see docs/certificates.md. Works while the "
                "service runs: it picks up the new files within seconds. Exit status 0 when enrolled (or kept), 1 "
                "when the ticket file is wrong or the central refused (its HTTP status and reason are shown), 2 on a "
                "usage or configuration error.",
                "medgw enroll -c /etc/medgw/medgw.yaml --ticket-file /media/usb/131234567.ticket\n"
                "medgw enroll --ticket-file ticket.txt --force   # replace a certificate that is still valid",
                enroll_options, command_enroll},
    CommandSpec{"collect", "", 0, 0, "One collection pass over all sources into the spool, without upload.",
                "Scans every source once, spools what is new or changed and prints a summary (files "
                "seen/new/changed/renamed/deleted, waiting to settle, anomalies, objects and bytes). Refuses to run "
                "while the service runs (one writer at a time). Exit status 1 when a source could not be scanned or "
                "the spool refused new objects (what is left waits for the next pass). When most of a source "
                "vanishes at once, or its folder is empty, the deletions are withheld: an unmounted share looks "
                "the same; check it, then confirm with --accept-deletions.",
                "medgw collect --once\nmedgw collect --once --accept-deletions", collect_options, command_collect},
    CommandSpec{"upload", "", 0, 0, "Upload the spool to the central until it is empty.",
                "Sends every spooled object to central.url with tus 1.0 over mutual TLS, resuming any upload that "
                "was cut, and removes an object only once the central has all of it. Fetches and checks the "
                "central's signed receipt when the server offers one (central.receipt_key). Transient failures "
                "are retried with backoff; a permanent refusal moves the object to 'rejected' (see medgw status). "
                "Exits 0 when the spool is empty, 1 on a hard error (TLS refused, the central unreachable after "
                "retries, a receipt that does not check out); the spool keeps everything.",
                "medgw upload --once", once_options, command_upload},
    CommandSpec{"spool release", "SEQ", 1, 1, "Accept an unconfirmed object as delivered (an operator's decision).",
                "An object whose receipt from the central did not check out stays in the spool as 'unconfirmed' "
                "(medgw status lists it; the log has upload.receipt_invalid) and its receipt is asked for again "
                "every 10 minutes. Once the central's operators have confirmed they hold the object, release it: it "
                "is recorded as delivered with the receipt it had, and its file leaves the spool. Only unconfirmed "
                "objects can be released. Needs the service stopped (one writer at a time).",
                "systemctl stop medgw\nmedgw spool release 1234\nsystemctl start medgw", plain_options,
                command_spool_release},
    CommandSpec{"spool resend", "SEQ", 1, 1, "Send an unconfirmed or rejected object again from the start.",
                "For an object the central rejected, or one whose receipt did not check out, when the central's "
                "operators ask for it again: it goes back to the queue and is uploaded anew (the central drops a "
                "duplicate by its object ID). Needs the service stopped (one writer at a time).",
                "systemctl stop medgw\nmedgw spool resend 1234\nsystemctl start medgw", plain_options,
                command_spool_resend},
    CommandSpec{"status", "", 0, 0, "Show sources, index counts, spool, last upload and errors.",
                "Works with or without the daemon running: it reads state.db without taking the writer lock. "
                "Patient data never appears in the output.",
                "medgw status\nmedgw status --json", status_options, command_status},
    CommandSpec{"keys generate", "", 0, 0, "Create a new age X25519 identity (AGE-SECRET-KEY-1...).",
                "The file is created with mode 0600 and is never overwritten. Its recipient (age1...) is "
                "printed on standard error.",
                "medgw keys generate -o /etc/medgw/escrow.key", keys_generate_options, command_keys_generate},
    CommandSpec{"keys recipient", "FILE", 1, 1, "Print the recipient (age1...) of an identity file.", "",
                "medgw keys recipient /etc/medgw/escrow.key", plain_options, command_keys_recipient},
    CommandSpec{"encrypt", "[IN]", 0, 1, "Encrypt a file with age v1 (byte-compatible with the age tool).",
                "Reads IN (or standard input) and writes the age file to OUT (or standard output). A passphrase file "
                "uses scrypt (work factor 18) and cannot be combined with recipients. Files given with "
                "--passphrase-file must have mode 0600.",
                "medgw encrypt -r age1... -o report.age report.csv\ntar c dir | medgw encrypt -R recipients.txt > dir.tar.age",
                encrypt_options, command_encrypt},
    CommandSpec{"decrypt", "[IN]", 0, 1, "Decrypt an age v1 file.",
                "With -o, plaintext is written to a private temporary file next to OUT and renamed only after the "
                "last chunk has been authenticated, so a tampered or truncated file never leaves a plausible "
                "output. To standard output each chunk is written once authenticated; on failure the exit "
                "status is 1 and what was written must be discarded. Identity files must have mode 0600.",
                "medgw decrypt -i key.txt -o report.csv report.age", decrypt_options, command_decrypt},
    CommandSpec{"optout check", "PATIENT_ID", 1, 1, "Say whether and why a patient is excluded (opt-out).",
                "Reads policy.optout_file (UTF-8 or CP932 CSV with the header "
                "patient_id,dpc_id,kana_name,birth_date,requested_on) and says whether the patient is on it, on "
                "which line, and what that excludes; also shows the collection window (policy.since). On a "
                "terminal the answer names the patient; otherwise (logs, tickets) it shows only the keyed hash "
                "pt:xxxxxxxx. Exit status 0 either way; 1 when the list cannot be read (the line is named).",
                "medgw optout check 0001234567", plain_options, command_optout_check},
    CommandSpec{"notice check", "PATIENT_ID", 1, 1, "Say whether a patient's notice period has passed, since when and why.",
                "With policy.notice: whether the patient's data may go (ELIGIBLE since DATE) or is held (NOT YET "
                "ELIGIBLE, and until when), and why: their first encounter on or after policy.notice.start that the "
                "collection has seen (its date and the kind of data it was seen in) or the line of the notice register "
                "(policy.notice.register), plus the wait. An opted-out patient is excluded whatever their notice. On a "
                "terminal the answer names the patient; otherwise only the keyed hash pt:xxxxxxxx. Works while the "
                "service runs. Exit status 0 either way; 1 when the register or the opt-out list cannot be read (the "
                "line is named).",
                "medgw notice check 0001234567", plain_options, command_notice_check},
    CommandSpec{"notice report", "", 0, 0, "Write the hospital's record of the notice period (CSV, mode 0600).",
                "Writes to -o FILE, for the hospital's own records, one row per patient: those eligible (and since "
                "when), those held and why, and the opt-outs with their request dates. Japanese and English column "
                "headers, UTF-8 with BOM (opens in Excel). The file names patients: it is created with mode 0600, "
                "never logged, and must stay inside the hospital. Exit status 1 when a policy file cannot be read or "
                "the report cannot be written; 2 without -o or without policy.notice.start.",
                "medgw notice report -o /root/notice-2026-04.csv --month 2026-04", notice_report_options,
                command_notice_report},
    CommandSpec{"audit verify", "", 0, 0, "Check the audit chain of the opt-out list and the notice register.",
                "Every version of policy.optout_file and policy.notice.register the gateway loaded is recorded in "
                "state.db (what changed, by keyed hash; when; the file's SHA-256), each row hashed together with the "
                "one before. This recomputes the chain and names the first row that was changed, removed or "
                "reordered. Prints the head hash: noting it elsewhere also shows a rewrite of the whole chain. Works "
                "while the service runs. Exit status 0 when the chain checks out, 1 when it does not.",
                "medgw audit verify", plain_options, command_audit_verify},
    CommandSpec{"backup run", "", 0, 0, "Back up every source now into backup.repository.",
                "Walks every source folder, stores what is new or changed since the last run (unchanged files are "
                "not read: backup.db in state_dir remembers them) as content-defined chunks, compressed and "
                "age-encrypted to backup.recipients in packs of about 16 MiB, and writes an encrypted snapshot "
                "with a signed clear list of its packs. The gateway holds recipients only: nothing it writes can "
                "be read back without the recovery identity, and it never overwrites or deletes anything in the "
                "repository. Every patient is in the backup, opted-out ones too (it is the hospital's own copy). "
                "Progress is shown on a terminal. Runs beside the service (one backup at a time). Exit status 1 "
                "when the repository cannot be written (disk full: nothing half-written is visible; run again "
                "when there is space) or a file could not be read.",
                "medgw backup run", plain_options, command_backup_run},
    CommandSpec{"backup list", "", 0, 0, "List the snapshots of the backup repository.",
                "Reads only the clear signed pack lists (no key needed): each snapshot's id, time, number of "
                "files, size and packs.",
                "medgw backup list\nmedgw backup list --repository /mnt/backup/medgw", backup_list_options,
                command_backup_list},
    CommandSpec{"backup verify", "", 0, 0, "Check the backup repository.",
                "Without --identity: every snapshot's pack list and its signature, every pack it names present "
                "with its size and SHA-256, every snapshot file with its size and SHA-256. With the recovery "
                "identity: also decrypts every pack and snapshot and checks each blob against its keyed id. Each "
                "problem is printed as PROBLEM with the pack or snapshot and the snapshots it affects. Exit status "
                "0 when clean, 1 when anything is wrong.",
                "medgw backup verify\nmedgw backup verify --identity /media/usb/recovery.key\n"
                "medgw backup verify --read-data 5   # weekly: a random 5% of the packs' data", backup_verify_options,
                command_backup_verify},
    CommandSpec{"backup restore", "", 0, 0, "Restore a snapshot (or one patient, or a folder) into an empty folder.",
                "Decrypts with the recovery identity and writes the files as <target>/<source label>/<path> with "
                "their modes and modification times; never into a source folder; refuses a non-empty target "
                "unless --force. A file whose data is damaged or missing is left out and reported by its entry "
                "number, source and the patient's keyed tag (pt:...), never by its path; everything else is "
                "restored and the exit status is 1. Exit status 2 for a usage problem (target not empty).",
                "medgw backup restore --identity recovery.key --target /srv/restore\n"
                "medgw backup restore --identity recovery.key --patient 0001234567 --target /tmp/p\n"
                "medgw backup restore -i recovery.key --snapshot 019a... --path ssmix2/000/ --target /tmp/r",
                backup_restore_options, command_backup_restore},
    CommandSpec{"backup forget", "", 0, 0, "Retention: forget old snapshots (where the repository is).",
                "Keeps the newest snapshot of each of the last N days that have one (--keep-daily) and of each of "
                "the last N months (--keep-monthly), forgets the others, and removes every pack no kept snapshot "
                "needs. Needs no key: it reads only the signed clear pack lists, so it runs where the repository "
                "is (the NAS's host, any machine that mounts it: --repository DIR). A snapshot whose pack list "
                "cannot be read is kept, and then no pack is removed. It waits for no one: while a backup run "
                "writes to the repository it refuses (exit 1, try later), and a run that starts meanwhile waits "
                "for the next schedule. The gateway stores again, at its next run, what a removed pack held.",
                "medgw backup forget --repository /mnt/nas/medgw-backup --keep-daily 7 --keep-monthly 12\n"
                "medgw backup forget -c /etc/medgw/medgw.yaml --keep-daily 30 --dry-run",
                backup_forget_options, command_backup_forget},
    CommandSpec{"export-media", "", 0, 0, "Build offline viewer media (ISO/zip/folder) for disasters.",
                "Writes the hospital's SS-MIX2 data with a browser viewer (INDEX.HTM: patient search; allergies, "
                "prescriptions, lab results, diagnoses, admissions, exam reports, documents; a printable emergency "
                "summary) that works from the medium on any PC without a network. Encrypted by default: the "
                "viewer's data (DATA/) with AES-256-GCM under a key from the passphrase (PBKDF2-SHA256, 600,000 "
                "iterations), the raw storage as SSMIX2.TAR.AGE (age with the same passphrase; restore with "
                "'age -d' and 'tar -x'); no file name or content holds patient data in clear. MANIFEST.JSON lists "
                "the SHA-256 of every file and is signed with the gateway's key (MANIFEST.SIG). Refuses an "
                "existing non-empty --out unless --force. Malformed messages, unknown data types and deleted or "
                "superseded versions do not stop it: they are counted in the summary. --from backup reads a snapshot "
                "of backup.repository with the recovery identity (--identity) instead of the live sources. Exit "
                "status 1 when the storage or the output cannot be "
                "read or written, or --verify finds a problem.",
                "medgw export-media --out /media/dvd/hospital.iso --passphrase-file /root/media.pass\n"
                "medgw export-media --out /media/usb/MEDGW --format dir --since 2024-01-01 --passphrase-file p.txt\n"
                "medgw export-media --verify /media/dvd/hospital.iso",
                export_media_options, command_export_media},
    CommandSpec{"diag", "", 0, 0, "Write a redacted, encrypted diagnostics bundle for support staff.",
                "Writes a tar.zst bundle, age-encrypted to support.recipient (the support team's key), holding only "
                "what is known to be safe, each file listed in MANIFEST.json with its SHA-256 and why it is there: "
                "version and build, OS and packages, the configuration through the key table's sensitivity marks "
                "(secrets as <secret>, patient-bearing paths as keyed tags; never the file itself), medgw doctor's "
                "checks, the status server's pages, state.db's counts (never rows), certificate facts (never keys), "
                "the systemd unit's state and the last 24 hours of log (at most 10 MiB), every line through a "
                "redactor that removes patient IDs, names (any kana or kanji), SS-MIX2 paths and long numbers. "
                "Works while the service runs, with state.db locked or damaged, and with an invalid configuration "
                "(the bundle then holds its errors). --review writes it in clear so the hospital can read it first. "
                "Exit status 2 when support.recipient is not set and --review is not given; 1 when the bundle cannot "
                "be written.",
                "medgw diag\nmedgw diag --review -o /tmp/medgw-diag.tar.zst\nmedgw diag --since 3d -o bundle.age",
                diag_options, command_diag},
    CommandSpec{"doctor", "", 0, 0, "Check this machine and the connection to the central.",
                "Prints one line per check - OK, WARN or FAIL (SKIP when an earlier step failed) - and, for each "
                "problem, what to do: the configuration; state_dir, state.db and the key files (owner, mode 0600); "
                "each source (present, readable as the medgw user, named like its type); the files the service "
                "reads; the inotify watch limit against the sources' folders; free space and inodes against "
                "spool.*; the client certificate's days left; then the proxy, name resolution, TCP, the TLS "
                "handshake with central.ca and the host name, the pins, the client certificate accepted, the tus "
                "endpoint answering OPTIONS, the clock against the central's Date header; central.receipt_key; the "
                "upload window and bandwidth; and the service (its status server, or systemd). Works with the "
                "service running or stopped; run it as root to check access as the medgw user. Each network step "
                "gives up after 10 s. Exit status 0 when nothing failed, 1 otherwise.",
                "medgw doctor\nmedgw doctor --json", doctor_options, command_doctor},
};

}  // namespace

std::span<const CommandSpec> commands() { return command_table; }

}  // namespace medgw::daemon
