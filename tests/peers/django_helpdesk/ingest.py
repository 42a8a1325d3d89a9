"""Measures django-helpdesk's inbound email ingest, for the mail benchmark.

    VENV/bin/python ingest.py --corpus DIR --database sqlite
    VENV/bin/python ingest.py --corpus DIR --database postgres://postgres@127.0.0.1:5432/postgres

Sets up a minimal Django project in this process on a fresh database (a new
SQLite file in a temporary folder, or a new PostgreSQL database created
through the given server URL's maintenance database and dropped at the
end), migrates it, and creates one queue for support@rapport.localhost that
takes email submissions. Then it reads every DIR/*.eml (sorted by name) into
memory and times only the ingest: for each message, the call that
django-helpdesk's own fetcher (helpdesk.email.process_queue, run by the
get_email management command) makes for one message,

    helpdesk.email.extract_email_metadata(message=full_message, queue=q, logger=logger)

with the message read as that fetcher reads a local mailbox file
(open(path, "r") then django.utils.encoding.force_str(..., errors="replace"))
and the queue logger set up as helpdesk.email.process_email sets it for a
queue without a logging type (no handlers, no propagation). That call parses
the MIME message, strips quoted history, checks the ignore list, finds the
ticket a reply belongs to (In-Reply-To against earlier follow-ups' Message-ID,
or a "[queue-id]" tracking ID in the subject), creates the ticket and/or
follow-up, stores the HTML part as an attachment under MEDIA_ROOT, renders
and "sends" the acknowledgment or update notification (Django's locmem email
backend: each email is built, then kept in memory) and fires the
new-ticket/updated-ticket signals (webhooks unset).

Prints one JSON line to stdout:

    {"peer": "django-helpdesk", "version": "2.6.1", "database": "sqlite"|"postgresql",
     "messages": N, "tickets": T, "followups": F, "seconds": S, "per_second": X}

"followups" counts the messages filed into an existing ticket: django-helpdesk
also records the message that opens a ticket as a FollowUp row, so F is the
FollowUp rows less one per ticket (the raw row count goes to stderr).
Everything else goes to stderr. Exits 1 if any message failed to ingest
(each named on stderr with the reason), 2 on a usage or setup error.

SQLite: Django opens the file with journal_mode=WAL and synchronous=FULL
(its sqlite init_command option, run on every new connection) and works in
autocommit mode, as the fetcher does, so each statement that writes is its
own durable commit.
"""

import argparse
import contextlib
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import types
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

SUPPORT_ADDRESS = "support@rapport.localhost"
SQLITE_INIT_COMMAND = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class PostgresServer:
    """A server URL, and the fresh database made on it for one run."""

    def __init__(self, url):
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {url}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = unquote(parts.username) if parts.username else "postgres"
        self.password = unquote(parts.password) if parts.password else ""
        self.maintenance_db = unquote(parts.path.lstrip("/")) or "postgres"
        self.options = dict(parse_qsl(parts.query))
        self.name = f"dh_bench_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        self.created = False

    def _admin(self):
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=self.maintenance_db,
            autocommit=True,
            **self.options,
        )

    def create(self):
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self):
        if not self.created:
            return
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.created = False

    def django_settings(self):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": str(self.port),
            "OPTIONS": dict(self.options),
        }


def configure_django(database, media_root):
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="peer-measurement-only",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        SITE_ID=1,
        # The apps django-helpdesk's install guide asks for; the teams mode
        # (pinax-teams) and the bootstrap form app are left out, as in its
        # demo project without teams.
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.sites",
            "django.contrib.admin",
            "django.contrib.humanize",
            "rest_framework",
            "django_cleanup.apps.CleanupConfig",
            "helpdesk",
        ],
        HELPDESK_TEAMS_MODE_ENABLED=False,
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        ROOT_URLCONF="helpdesk_peer_urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={"default": database},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        MEDIA_ROOT=media_root,
        MEDIA_URL="/media/",
        STATIC_URL="/static/",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DEFAULT_FROM_EMAIL=SUPPORT_ADDRESS,
        SERVER_EMAIL=SUPPORT_ADDRESS,
        LOGGING_CONFIG=None,
    )

    import django

    django.setup()

    # URLs, so that the notification templates can link to the ticket.
    from django.urls import include, path

    urls = types.ModuleType("helpdesk_peer_urls")
    urls.urlpatterns = [path("helpdesk/", include("helpdesk.urls"))]
    sys.modules["helpdesk_peer_urls"] = urls


def read_corpus(directory):
    """The messages as helpdesk.email.process_queue reads a local mailbox."""
    from django.utils import encoding

    paths = sorted(glob.glob(os.path.join(directory, "*.eml")))
    messages = []
    for p in paths:
        with open(p, "r") as f:
            messages.append((p, encoding.force_str(f.read(), errors="replace")))
    return messages


def queue_logger(queue):
    """The logger helpdesk.email.process_email gives a queue whose logging
    type is unset: no handlers, nothing propagated."""
    logger = logging.getLogger("django.helpdesk.queue." + queue.slug)
    logger.handlers = []
    logger.propagate = False
    return logger


def run(corpus, backend_name):
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)

    if backend_name == "sqlite":
        with connection.cursor() as c:
            c.execute("PRAGMA journal_mode")
            journal = c.fetchone()[0]
            c.execute("PRAGMA synchronous")
            synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                c.fetchone()[0]
            )
        log(f"sqlite: journal_mode={journal} synchronous={synchronous}")
        if journal != "wal" or synchronous != "FULL":
            raise RuntimeError("SQLite did not take journal_mode WAL, synchronous FULL")

    from helpdesk.email import extract_email_metadata
    from helpdesk.exceptions import DeleteIgnoredTicketException, IgnoreTicketException
    from helpdesk.models import FollowUp, FollowUpAttachment, Queue, Ticket

    queue = Queue.objects.create(
        title="Acme Support",
        slug="support",
        email_address=SUPPORT_ADDRESS,
        allow_email_submission=True,
        allow_public_submission=False,
        email_box_type="local",
        email_box_local_dir=os.path.abspath(corpus),
    )
    logger = queue_logger(queue)

    messages = read_corpus(corpus)
    if not messages:
        raise RuntimeError(f"no *.eml files in {corpus}")
    mail.outbox = []

    failures = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for p, full_message in messages:
        try:
            ticket = extract_email_metadata(
                message=full_message, queue=queue, logger=logger
            )
        except (IgnoreTicketException, DeleteIgnoredTicketException) as e:
            failures.append((p, f"ignored ({type(e).__name__})"))
        except Exception as e:  # noqa: BLE001 - reported per message below
            failures.append((p, f"{type(e).__name__}: {e}"))
        else:
            if not ticket:
                failures.append((p, "no ticket or follow-up was created"))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    tickets = Ticket.objects.count()
    followup_rows = FollowUp.objects.count()
    attachments = FollowUpAttachment.objects.count()
    sent = len(getattr(mail, "outbox", []))
    log(
        f"{len(messages)} messages: {tickets} tickets, {followup_rows} follow-up rows "
        f"({followup_rows - tickets} on existing tickets), {attachments} attachments, "
        f"{sent} notification emails built; ingest {seconds:.3f} s, "
        f"of which this process on a CPU {cpu_seconds:.3f} s"
    )
    for p, why in failures:
        log(f"failed: {p}: {why}")

    return (
        {
            "peer": "django-helpdesk",
            "version": "2.6.1",
            "database": "sqlite" if backend_name == "sqlite" else "postgresql",
            "messages": len(messages),
            "tickets": tickets,
            "followups": followup_rows - tickets,
            "seconds": round(seconds, 6),
            "per_second": round(len(messages) / seconds, 3),
        },
        failures,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="folder of *.eml files")
    parser.add_argument(
        "--database",
        required=True,
        help="'sqlite', or a PostgreSQL server URL such as "
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    if not os.path.isdir(args.corpus):
        log(f"django-helpdesk peer: no such folder: {args.corpus}")
        return 2

    # Webhooks are read from the environment; none are wanted here.
    os.environ.pop("HELPDESK_NEW_TICKET_WEBHOOK_URLS", None)
    os.environ.pop("HELPDESK_FOLLOWUP_WEBHOOK_URLS", None)

    workdir = tempfile.mkdtemp(prefix="django-helpdesk-peer-")
    server = None
    stdout = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            if args.database == "sqlite":
                backend_name = "sqlite"
                database = {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": os.path.join(workdir, "helpdesk.sqlite3"),
                    "OPTIONS": {"init_command": SQLITE_INIT_COMMAND},
                }
            else:
                backend_name = "postgresql"
                server = PostgresServer(args.database)
                server.create()
                log(f"postgresql: database {server.name} on {server.host}:{server.port}")
                database = server.django_settings()
            configure_django(database, os.path.join(workdir, "media"))
            result, failures = run(args.corpus, backend_name)
    except Exception as e:  # noqa: BLE001 - setup errors end the run
        import traceback

        traceback.print_exc(file=sys.stderr)
        log(f"django-helpdesk peer: setup failed: {type(e).__name__}: {e}")
        return 2
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be configured yet
            pass
        if server is not None:
            try:
                server.drop()
            except Exception as e:  # noqa: BLE001
                log(f"django-helpdesk peer: could not drop {server.name}: {e}")
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(result), file=stdout, flush=True)
    if failures:
        log(f"django-helpdesk peer: {len(failures)} of {result['messages']} messages failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
