#ifndef MP_VERSION_H
#define MP_VERSION_H
#define MPRELAY_VERSION "0.1.0"
#endif
