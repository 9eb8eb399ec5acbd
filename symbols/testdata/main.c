/* Second compilation unit for the linked-executable tests: it only
 * declares struct task_struct, so its pointer must be resolved to the
 * definition in types.c. */
struct task_struct;
struct dio;

struct holder {
	struct task_struct *owner;
	int x;
};

struct holder global_holder;
int types_function(struct dio *d, int x);

int main(void)
{
	global_holder.x = 1;
	return types_function(0, 0);
}
