getent group medgw > /dev/null || groupadd -r medgw
getent passwd medgw > /dev/null || useradd -r -g medgw -d /var/lib/medgw -s /sbin/nologin -c "medgw hospital data gateway" medgw
exit 0
