# QEMU's machine protocol from the tests (bash; python3 speaks it).
#
#   qmp_call SOCKET COMMAND [ARGUMENTS-JSON]
#       run COMMAND on QEMU's QMP unix SOCKET (a client of its own: the
#       capabilities negotiated first); print the answer's "return" as
#       JSON; exit 1 on an error answer (printed on stderr)
#   qmp_get SOCKET COMMAND KEY
#       the member KEY of COMMAND's answer, as text

qmp_call() {
    python3 - "$1" "$2" "${3:-{\}}" << 'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd, args in (("qmp_capabilities", {}), (sys.argv[2], json.loads(sys.argv[3]))):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" not in r:
            break
    if "return" not in r:
        print(json.dumps(r), file=sys.stderr)
        sys.exit(1)
print(json.dumps(r["return"]))
PY
}

qmp_get() {
    qmp_call "$1" "$2" | python3 -c '
import json, sys
print(json.load(sys.stdin)[sys.argv[1]])' "$3"
}
