# Install rules and CPack: two packages from one tree, in deb and rpm
# (scripts/package): `medgw` (the gateway: component gateway) and
# `medgw-receiver` (the reference central: component receiver).
include(GNUInstallDirs)

set(MEDGW_PACKAGE_VERSION "" CACHE STRING "Version written into the packages (empty: the project's)")
if(NOT MEDGW_PACKAGE_VERSION)
  set(MEDGW_PACKAGE_VERSION "${PROJECT_VERSION}")
endif()
set(MEDGW_MAN_DIR "${PROJECT_BINARY_DIR}/man")
set(MEDGW_PKG_DIR "${PROJECT_BINARY_DIR}/packaging")

# Man pages, from the built programs' own --help and config table.
find_program(MEDGW_PYTHON NAMES python3 REQUIRED)
add_custom_command(
  OUTPUT ${MEDGW_MAN_DIR}/medgw.8.gz ${MEDGW_MAN_DIR}/medgw.yaml.5.gz ${MEDGW_MAN_DIR}/medgw-receiver.8.gz
  COMMAND ${MEDGW_PYTHON} ${PROJECT_SOURCE_DIR}/packaging/make-manpages.py $<TARGET_FILE:medgw>
          $<TARGET_FILE:medgw-receiver> ${MEDGW_MAN_DIR} ${MEDGW_PACKAGE_VERSION}
  DEPENDS medgw medgw-receiver ${PROJECT_SOURCE_DIR}/packaging/make-manpages.py
  COMMENT "Writing the man pages")
add_custom_target(medgw_manpages ALL DEPENDS ${MEDGW_MAN_DIR}/medgw.8.gz)

# Debian changelogs, gzipped without a time stamp.
foreach(package IN ITEMS medgw medgw-receiver)
  file(READ ${PROJECT_SOURCE_DIR}/packaging/changelog changelog)
  string(REPLACE "@VERSION@" "${MEDGW_PACKAGE_VERSION}" changelog "${changelog}")
  string(REPLACE "medgw (" "${package} (" changelog "${changelog}")
  file(WRITE ${MEDGW_PKG_DIR}/${package}/changelog "${changelog}")
  execute_process(COMMAND gzip -n -9 -f ${MEDGW_PKG_DIR}/${package}/changelog)
endforeach()

set(doc ${CMAKE_INSTALL_DATAROOTDIR}/doc)
# gateway
install(FILES ${PROJECT_SOURCE_DIR}/packaging/medgw.yaml DESTINATION /etc/medgw
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/medgw.service DESTINATION lib/systemd/system COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/medgw.sysusers DESTINATION lib/sysusers.d RENAME medgw.conf
        COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/medgw-inotify.sysctl DESTINATION lib/sysctl.d
        RENAME 60-medgw-inotify.conf COMPONENT gateway)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/config.md
              ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/architecture.md
              ${PROJECT_SOURCE_DIR}/packaging/copyright ${MEDGW_PKG_DIR}/medgw/changelog.gz
        DESTINATION ${doc}/medgw COMPONENT gateway)
install(FILES ${MEDGW_MAN_DIR}/medgw.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT gateway)
install(FILES ${MEDGW_MAN_DIR}/medgw.yaml.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT gateway)
# receiver
install(FILES ${PROJECT_SOURCE_DIR}/systemd/medgw-receiver.service DESTINATION lib/systemd/system
        COMPONENT receiver)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/medgw-receiver.sysusers DESTINATION lib/sysusers.d
        RENAME medgw-receiver.conf COMPONENT receiver)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/copyright ${MEDGW_PKG_DIR}/medgw-receiver/changelog.gz
        DESTINATION ${doc}/medgw-receiver COMPONENT receiver)
install(FILES ${MEDGW_MAN_DIR}/medgw-receiver.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT receiver)

set(CPACK_PACKAGE_NAME medgw)
set(CPACK_PACKAGE_VENDOR "medgw project")
set(CPACK_PACKAGE_VERSION "${MEDGW_PACKAGE_VERSION}")
set(CPACK_PACKAGE_CONTACT "medgw maintainers <maintainers@medgw.jp>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_INSTALL_DIRECTORY /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL gateway receiver)
set(CPACK_OUTPUT_FILE_PREFIX "${PROJECT_SOURCE_DIR}/dist")

# deb
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_GATEWAY_PACKAGE_NAME medgw)
set(CPACK_DEBIAN_RECEIVER_PACKAGE_NAME medgw-receiver)
set(CPACK_DEBIAN_GATEWAY_PACKAGE_RECOMMENDS "systemd")
set(gateway_description
    "hospital gateway for SS-MIX2, DPC and UKE data (次世代医療基盤法)\n\
medgw watches a hospital's SS-MIX2 standardized storage and its DPC and\n\
receipt (UKE) exports, encrypts every change (age v1), keeps it in a durable\n\
spool and uploads it over mutual TLS (tus 1.0) to the central collector of a\n\
certified medical-data business. It runs as the systemd service medgw.")
set(receiver_description
    "reference central collector for medgw gateways\n\
medgw-receiver accepts uploads from medgw gateways over mutual TLS (tus 1.0),\n\
verifies each object's hash and signature, stores it, issues signed receipts\n\
and lands the decrypted files in sequence order.")
set(CPACK_DEBIAN_GATEWAY_DESCRIPTION "${gateway_description}")
set(CPACK_DEBIAN_RECEIVER_DESCRIPTION "${receiver_description}")
set(CPACK_DEBIAN_GATEWAY_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RECEIVER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_GATEWAY_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/medgw/postinst ${PROJECT_SOURCE_DIR}/packaging/deb/medgw/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/medgw/postrm ${PROJECT_SOURCE_DIR}/packaging/deb/medgw/conffiles)
set(CPACK_DEBIAN_RECEIVER_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/medgw-receiver/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/medgw-receiver/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/medgw-receiver/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# rpm
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_URL "https://medgw.jp/")
# No /usr/lib/.build-id links: their names change with every build (the file
# lists are checked against packaging/expected/).
set(CPACK_RPM_SPEC_MORE_DEFINE "%define packager medgw maintainers <maintainers@medgw.jp>\n%define _build_id_links none")
set(CPACK_RPM_GATEWAY_PACKAGE_NAME medgw)
set(CPACK_RPM_RECEIVER_PACKAGE_NAME medgw-receiver)
set(CPACK_RPM_GATEWAY_PACKAGE_SUMMARY "Hospital gateway for SS-MIX2, DPC and UKE data")
set(CPACK_RPM_RECEIVER_PACKAGE_SUMMARY "Reference central collector for medgw gateways")
set(CPACK_RPM_GATEWAY_PACKAGE_DESCRIPTION "${gateway_description}")
set(CPACK_RPM_RECEIVER_PACKAGE_DESCRIPTION "${receiver_description}")
set(CPACK_RPM_GATEWAY_USER_FILELIST "%config(noreplace) %attr(0640,root,medgw) /etc/medgw/medgw.yaml"
    "%dir /etc/medgw")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/lib/sysctl.d
    /usr/share/man /usr/share/man/man5 /usr/share/man/man8 /usr/share/doc)
set(CPACK_RPM_GATEWAY_PRE_INSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-pre.sh)
set(CPACK_RPM_GATEWAY_POST_INSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-post.sh)
set(CPACK_RPM_GATEWAY_PRE_UNINSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-preun.sh)
set(CPACK_RPM_GATEWAY_POST_UNINSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-postun.sh)
set(CPACK_RPM_RECEIVER_PRE_INSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-receiver-pre.sh)
set(CPACK_RPM_RECEIVER_POST_INSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-receiver-post.sh)
set(CPACK_RPM_RECEIVER_PRE_UNINSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-receiver-preun.sh)
set(CPACK_RPM_RECEIVER_POST_UNINSTALL_SCRIPT_FILE ${PROJECT_SOURCE_DIR}/packaging/rpm/medgw-receiver-postun.sh)

include(CPack)
cpack_add_component(gateway DISPLAY_NAME "medgw")
cpack_add_component(receiver DISPLAY_NAME "medgw-receiver")
