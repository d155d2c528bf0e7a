install -d -o medgw -g medgw -m 0750 /var/lib/medgw
[ -d /etc/medgw/tls ] || install -d -o medgw -g medgw -m 0750 /etc/medgw/tls
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload > /dev/null 2>&1 || :
  sysctl -q -p /usr/lib/sysctl.d/60-medgw-inotify.conf > /dev/null 2>&1 || :
fi
exit 0
