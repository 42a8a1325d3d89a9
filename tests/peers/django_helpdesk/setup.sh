#!/usr/bin/env bash
# Creates a virtual environment with django-helpdesk 2.6.1 for the mail
# benchmark's peer measurement: setup.sh VENV_DIR
# Does nothing when VENV_DIR already has a Python that imports helpdesk.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
requirements=$here/requirements.txt

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c 'import helpdesk, django, psycopg' >/dev/null 2>&1; then
    exit 0
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
    echo "django-helpdesk peer: $python not found (needs Python 3.10 or later with venv)" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "django-helpdesk peer: $python is $("$python" -V 2>&1), django-helpdesk 2.6.1 needs 3.10 or later" >&2
    exit 1
fi

if ! "$python" -m venv "$venv"; then
    echo "django-helpdesk peer: could not create a virtual environment at $venv" >&2
    exit 1
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$requirements"; then
    echo "django-helpdesk peer: pip could not install $requirements into $venv" >&2
    exit 1
fi
if ! "$venv/bin/python" -c 'import helpdesk, django, psycopg' >/dev/null; then
    echo "django-helpdesk peer: $venv was installed but does not import helpdesk, django and psycopg" >&2
    exit 1
fi
