#   json_lines.py FILE: every line of FILE is one JSON object; print each
#   again (sorted keys, one per line), or say which line is not and exit 1.
#   The tests' own check of --log-format json, with Python's parser.
#
#   Copyright the sstream authors. Licensed under the Apache License 2.0.

import json
import sys

with open(sys.argv[1], "rb") as log:
    data = log.read()
if data and not data.endswith(b"\n"):
    sys.exit("the last line has no newline: %r" % data[-200:])
for number, line in enumerate(data.split(b"\n")[:-1], 1):
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        sys.exit("line %d is not a JSON object (%s): %r" % (number, error, line))
    if not isinstance(record, dict):
        sys.exit("line %d is not a JSON object: %r" % (number, line))
    print(json.dumps(record, sort_keys=True, ensure_ascii=False))
