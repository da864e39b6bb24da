#include "app/cli.hpp"

int main(int argc, char** argv) { return ld::app::run_cli(argc, argv); }
