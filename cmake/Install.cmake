# `cmake --install build --prefix DIR` installs the library, its headers and a package
# config, so another CMake project can do:
#   find_package(glassgrad REQUIRED)
#   target_link_libraries(app PRIVATE glassgrad::glassgrad)
include(CMakePackageConfigHelpers)

install(TARGETS glassgrad EXPORT glassgradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES glassgrad.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/glassgrad)
foreach(dir core autograd nn optim dist models data pictures app)
  if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${dir})
    install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/glassgrad/${dir} FILES_MATCHING PATTERN "*.h")
  endif()
endforeach()

install(EXPORT glassgradTargets NAMESPACE glassgrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/glassgrad)
configure_package_config_file(cmake/glassgradConfig.cmake.in ${PROJECT_BINARY_DIR}/glassgradConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/glassgrad)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/glassgradConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/glassgradConfig.cmake ${PROJECT_BINARY_DIR}/glassgradConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/glassgrad)
