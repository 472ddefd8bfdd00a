# shellcheck shell=sh
# %systemd_preun: stop and disable on removal (not on upgrade).
if [ $1 -eq 0 ] && [ -x /usr/bin/systemctl ]; then
    /usr/bin/systemctl --no-reload disable --now healthmon.service >/dev/null 2>&1 || :
fi
