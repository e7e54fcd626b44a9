#   The gateway service, the examples and the Debian package.
#
#   cpack -G DEB (in the build folder) makes one package with everything
#   that 'cmake --install' installs. Its paths are this build's: configure
#   with -DCMAKE_INSTALL_PREFIX=/usr for a package that follows Debian's
#   layout (the library, its plugin folder and the unit have their paths
#   compiled or written in, so the package cannot move them).

#   The unit in conf/systemd is the one a /usr install gets; elsewhere its
#   paths follow the prefix
set (unit_source "${PROJECT_SOURCE_DIR}/conf/systemd/sstream-gateway@.service")
set_property (DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${unit_source}")
file (READ "${unit_source}" unit)
string (REPLACE "/usr/bin/sstream-pipe" "${CMAKE_INSTALL_FULL_BINDIR}/sstream-pipe" unit "${unit}")
string (REPLACE "/etc/sstream/" "${SSTREAM_CONFIG_DIR}/" unit "${unit}")
file (WRITE "${CMAKE_BINARY_DIR}/systemd/sstream-gateway@.service" "${unit}")
install (FILES "${CMAKE_BINARY_DIR}/systemd/sstream-gateway@.service"
         DESTINATION "${SSTREAM_SYSTEMD_UNIT_DIR}")

#   Examples: the configs of the README's walkthrough. Their paths are
#   relative to the file's folder, so that copied to /etc/sstream they
#   find their keys in /etc/sstream/keys
install (FILES conf/gateway-a.cfg conf/gateway-b.cfg conf/producer.cfg conf/consumer.cfg
         DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install (FILES bindings/python/examples/detector_producer.py
               bindings/python/examples/running_mean_consumer.py
               bindings/python/examples/bench.py
         DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples/python")
install (FILES README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install (FILES LICENSE DESTINATION "${CMAKE_INSTALL_DOCDIR}" RENAME copyright)

#   What test/tools/test_package.sh checks a package of this build against
configure_file (cmake/package.env.in "${CMAKE_BINARY_DIR}/package.env" @ONLY)

#   The maintainer scripts: the service's user and /etc/sstream; and
#   ldconfig, which dpkg runs once after all packages are in
foreach (script postinst prerm postrm triggers)
    configure_file ("cmake/debian/${script}" "${CMAKE_BINARY_DIR}/debian/${script}" @ONLY)
endforeach ()

set (CPACK_GENERATOR DEB)
set (CPACK_PACKAGE_NAME sstream)
set (CPACK_PACKAGE_VENDOR "the sstream authors")
set (CPACK_PACKAGE_CONTACT "the sstream authors <sstream@example.invalid>")
set (CPACK_PACKAGE_DESCRIPTION_SUMMARY
     "secure stream fabric: instrument memory to analysis memory through gateways")
set (CPACK_PACKAGE_DESCRIPTION
     "sstream moves scientific data from an instrument's memory at one facility to an
analysis program's memory at another, through a gateway at each facility, over
ZeroMQ with CURVE on every link. This package has the library (libsstream),
its transport plugins, the sstream-pipe tool and its manual pages, the
headers with pkg-config and CMake files, the Python bindings, and the
systemd unit sstream-gateway@.service.")
set (CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set (CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/packages")
set (CPACK_STRIP_FILES ON)
set (CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set (CPACK_DEBIAN_PACKAGE_SECTION net)
set (CPACK_DEBIAN_PACKAGE_PRIORITY optional)
#   Dependencies from the ELF files, by dpkg-shlibdeps: libzmq5, libczmq4,
#   libsodium23, libmsgpackc2, libssl3 (libcrypto) and whatever else the
#   build links, with the versions this build needs
set (CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set (CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set (CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set (CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-msgpack, python3-numpy")
set (CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${CMAKE_BINARY_DIR}/debian/postinst"
    "${CMAKE_BINARY_DIR}/debian/prerm" "${CMAKE_BINARY_DIR}/debian/postrm"
    "${CMAKE_BINARY_DIR}/debian/triggers")
set (CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include (CPack)
