getent group medgw-receiver > /dev/null || groupadd -r medgw-receiver
getent passwd medgw-receiver > /dev/null || useradd -r -g medgw-receiver -d /var/lib/medgw-receiver -s /sbin/nologin -c "medgw-receiver central collector" medgw-receiver
exit 0
