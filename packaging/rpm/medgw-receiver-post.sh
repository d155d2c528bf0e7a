install -d -o medgw-receiver -g medgw-receiver -m 0750 /var/lib/medgw-receiver
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload > /dev/null 2>&1 || :
fi
exit 0
