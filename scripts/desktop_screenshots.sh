#!/usr/bin/env bash
# Re-make the two desktop screenshots in docs/screenshots/:
#
#   file-manager.png  Thunar's right-click menu on a file, with the "Send with Chatty…"
#                     action that `chatty desktop install` writes into Thunar/uca.xml.
#   notification.png  xfce4-notifyd drawing Chatty's notification of an incoming offer,
#                     with its Accept and Decline buttons.
#
#   sudo scripts/desktop_screenshots.sh        (root: apt-get and `ip netns`)
#
# Debian 12. Installs thunar, xfce4-notifyd and the X tools with apt, then runs
# everything on a virtual screen (xvfb-run) with openbox, a private session bus
# (dbus-run-session) and throw-away HOME / XDG folders under /tmp; nothing of the
# real user's desktop is read or changed.
#
# The notification is the real thing: the Chatty window runs hidden (--minimized,
# no tray here, so minimised) and a second Chatty sends it a file, so the window
# itself calls the notification service. Both Chatty nodes run inside a network
# namespace made here (a loopback and a veth pair with both ends inside: their mDNS
# never reaches a real network), deleted at the end. The window also opens its offer
# dialog in the middle of the screen; the picture is cropped to the notification.
#
# Takes about 15 s once the packages are there. CHATTY=/path/to/chatty overrides the
# chatty used (default: the repo's .venv-test); KEEP=1 keeps the throw-away folder
# (logs, and full-screen debug-*.png) and says where it is.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/docs/screenshots
CHATTY=${CHATTY:-$ROOT/.venv-test/bin/chatty}
SIZE=1280x800

if [[ "${1:-}" != --inside ]]; then
    [[ $EUID -eq 0 ]] || { echo "run as root (apt-get, ip netns)" >&2; exit 1; }
    [[ -x $CHATTY ]] || { echo "no chatty at $CHATTY (set CHATTY=...)" >&2; exit 1; }
    need=()
    for pair in xvfb-run:xvfb openbox:openbox xdotool:xdotool import:imagemagick \
        dbus-run-session:dbus thunar:thunar xauth:xauth xsetroot:x11-xserver-utils ip:iproute2; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
    done
    compgen -G "/usr/lib/*/xfce4/notifyd/xfce4-notifyd" >/dev/null || need+=(xfce4-notifyd)
    if ((${#need[@]})); then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
    fi

    WORK=$(mktemp -d /tmp/chatty-shots.XXXXXX)
    NS=chatty-shots-$$
    cleanup() {
        ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$NS" 2>/dev/null || true
        if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
    }
    trap cleanup EXIT
    # The Chatty nodes' network: a loopback and a veth pair with both ends inside, so
    # discovery has a LAN-like interface to run on and nothing leaves this machine.
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add chatty0 type veth peer name chatty1
    ip -n "$NS" addr add 10.213.0.1/24 dev chatty0
    ip -n "$NS" addr add 10.213.0.2/24 dev chatty1
    ip -n "$NS" link set chatty0 up
    ip -n "$NS" link set chatty1 up

    mkdir -p "$OUT"
    export WORK NS CHATTY OUT
    xvfb-run -a -s "-screen 0 ${SIZE}x24" dbus-run-session -- bash "${BASH_SOURCE[0]}" --inside
    exit $?
fi

# ----- inside: on the virtual screen, with the private session bus -------------------

export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data \
    XDG_CACHE_HOME=$WORK/cache XDG_RUNTIME_DIR=$WORK/runtime
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export NO_AT_BRIDGE=1 GTK_THEME=Adwaita LANG=C.UTF-8
pids=() groups=()
stop_all() {
    local g
    for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
    kill "${pids[@]}" 2>/dev/null || true
}
trap stop_all EXIT

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local until=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < until)) || { echo "timed out: $*" >&2; return 1; }
        sleep 0.2
    done
}
shot() { # shot OUT.png GEOMETRY: the screen, cropped, colours reduced to keep it small
    import -window root -crop "$2" +repage -strip -colors 256 "PNG8:$1"
    echo "wrote $1 ($(stat -c %s "$1") bytes)"
}

# The window manager, then a plain desktop-coloured background.
openbox --sm-disable & pids+=($!)
sleep 1
xsetroot -solid '#4a5d70'

# ----- 1. Thunar's right-click menu ---------------------------------------------------
#
# Thunar runs as "nobody" (it puts a "you are using the root account" warning over
# every window of root's), with a home, XDG folders and a session bus of its own.

FM=$WORK/fm/alex
export FM
mkdir -p "$FM/.config" "$FM/.local/share" "$FM/Videos"
XDG_DATA_HOME=$FM/.local/share XDG_CONFIG_HOME=$FM/.config "$CHATTY" desktop install >"$WORK/install.log"
grep -q 'Send with Chatty' "$FM/.config/Thunar/uca.xml"
truncate -s 10M "$FM/Videos/holiday.mov"
truncate -s 2M "$FM/Videos/birthday.mp4"
printf 'passport\ncharger\n' >"$FM/Videos/packing list.txt"
# Icons in menus (Chatty's action has its icon), as Xfce's settings would have it.
mkdir -p "$FM/.config/gtk-3.0"
printf '[Settings]\ngtk-menu-images=true\ngtk-theme-name=Adwaita\ngtk-icon-theme-name=Adwaita\n' \
    >"$FM/.config/gtk-3.0/settings.ini"
# Thunar's settings, as xfconfd reads them: a fixed window size, the path as buttons.
mkdir -p "$FM/.config/xfce4/xfconf/xfce-perchannel-xml"
cat >"$FM/.config/xfce4/xfconf/xfce-perchannel-xml/thunar.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="thunar" version="1.0">
  <property name="last-view" type="string" value="ThunarIconView"/>
  <property name="last-location-bar" type="string" value="ThunarLocationButtons"/>
  <property name="last-window-width" type="int" value="700"/>
  <property name="last-window-height" type="int" value="440"/>
  <property name="last-window-maximized" type="bool" value="false"/>
  <property name="last-separator-position" type="int" value="150"/>
  <property name="last-statusbar-visible" type="bool" value="true"/>
  <property name="misc-thumbnail-mode" type="string" value="THUNAR_THUMBNAIL_MODE_NEVER"/>
</channel>
XML
chmod 755 "$WORK" "$WORK/fm"
mkdir -p "$FM/.run" && chmod 700 "$FM/.run"
chown -R nobody:nogroup "$WORK/fm"
xhost +SI:localuser:nobody >/dev/null
# setsid: Thunar, its bus and xfconfd in one process group, ended together at the end.
setsid setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env -u XAUTHORITY -u DBUS_SESSION_BUS_ADDRESS HOME="$FM" XDG_CONFIG_HOME="$FM/.config" \
    XDG_DATA_HOME="$FM/.local/share" XDG_CACHE_HOME="$FM/.cache" XDG_RUNTIME_DIR="$FM/.run" \
    dbus-run-session -- thunar "$FM/Videos" 2>"$WORK/thunar.log" &
groups+=($!)
wait_for 20 xdotool search --onlyvisible --class Thunar
win=$(xdotool search --onlyvisible --class Thunar | head -1)
xdotool windowmove --sync "$win" 40 30
sleep 1
eval "$(xdotool getwindowgeometry --shell "$win")" # X, Y: the window's inside
echo "thunar at $X,$Y"
# The end of holiday.mov's name (the second in the view, so the menu leaves the name
# in sight): select it, the right click, then the pointer on "Send with Chatty…"
# (the menu's 10th row).
xdotool mousemove $((X + 356)) $((Y + 131)) click 1
sleep 0.5
xdotool click 3
sleep 1
xdotool mousemove_relative 100 246
sleep 1
[[ -n ${KEEP:-} ]] && import -window root "$WORK/debug-thunar.png"
# The window (its frame starts 2 left and 41 above X,Y) and the menu, with a margin.
shot "$OUT/file-manager.png" 722x486+$((X - 12))+$((Y - 51))
kill -- "-${groups[0]}"

# ----- 2. The notification of an offer ------------------------------------------------
#
# xfce4-notifyd on this session bus; the Chatty window ("alex-laptop") hidden, and a
# second Chatty ("desk") sending it holiday.mov: the window's own offer notification.

"$CHATTY" desktop install >/dev/null # Chatty's icon and launcher, as the notification names them
notifyd=$(compgen -G "/usr/lib/*/xfce4/notifyd/xfce4-notifyd" | head -1)
"$notifyd" 2>"$WORK/notifyd.log" & pids+=($!)
has_notifications() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications | grep -q true
}
wait_for 15 has_notifications

in_ns() { ip netns exec "$NS" "$@"; }
RECV=$WORK/chatty-laptop SEND=$WORK/chatty-desk
in_ns "$CHATTY" --data-dir "$RECV" name alex-laptop >/dev/null
in_ns "$CHATTY" --data-dir "$SEND" name desk >/dev/null
in_ns "$CHATTY" --data-dir "$RECV" --minimized >"$WORK/window.log" 2>&1 & pids+=($!)
wait_for 30 xdotool search --name '^Chatty'
sleep 2 # its notifier has asked the service for its capabilities
mkdir -p "$WORK/outbox"
truncate -s 10MB "$WORK/outbox/holiday.mov"
in_ns "$CHATTY" --data-dir "$SEND" send --wait 30 alex-laptop "$WORK/outbox/holiday.mov" \
    >"$WORK/send.log" 2>&1 & pids+=($!)
wait_for 40 xdotool search --onlyvisible --class xfce4-notifyd
sleep 1.5
[[ -n ${KEEP:-} ]] && import -window root "$WORK/debug-notify.png"
note=$(xdotool search --onlyvisible --class xfce4-notifyd | head -1)
eval "$(xdotool getwindowgeometry --shell "$note")"
echo "notification at $X,$Y ${WIDTH}x$HEIGHT"
# The notification with a margin of desktop round it (it sits in the top right corner).
M=16
left=$((X - M)) top=$((Y - M > 0 ? Y - M : 0))
shot "$OUT/notification.png" $((WIDTH + 2 * M))x$((HEIGHT + 2 * M))+$left+$top
