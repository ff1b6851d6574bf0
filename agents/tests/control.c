/* A program that calls nothing: the control of linked-libraries.sh. */
int
main(void)
{
    return 0;
}
