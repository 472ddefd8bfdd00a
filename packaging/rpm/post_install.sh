# shellcheck shell=sh
# systemd scriptlet conventions (%systemd_post): enable per preset on first install.
if [ $1 -eq 1 ] && [ -x /usr/bin/systemctl ]; then
    /usr/bin/systemctl --no-reload preset healthmon.service >/dev/null 2>&1 || :
fi
/usr/bin/systemctl reload dbus.service >/dev/null 2>&1 || :
