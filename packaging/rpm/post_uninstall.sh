# shellcheck shell=sh
# %systemd_postun_with_restart: reload units; restart on upgrade.
if [ -x /usr/bin/systemctl ]; then
    /usr/bin/systemctl daemon-reload >/dev/null 2>&1 || :
    if [ $1 -ge 1 ]; then
        /usr/bin/systemctl try-restart healthmon.service >/dev/null 2>&1 || :
    fi
fi
