/* BML_API marks the functions of the public API: the shared library (libbatteryml.so) is built with hidden
 * visibility and exports these alone. */
#ifndef BATTERYML_EXPORT_H
#define BATTERYML_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define BML_API __attribute__((visibility("default")))
#else
#define BML_API
#endif

#endif
